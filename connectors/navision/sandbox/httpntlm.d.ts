/** The part of httpntlm (no published types) that the sandbox and its tests use. */
declare module 'httpntlm' {
  interface Type2Message {
    serverChallenge: Buffer;
    negotiateFlags: number;
    targetInfo?: Buffer;
  }
  interface NtlmOptions {
    username?: string;
    password?: string;
    domain?: string;
    workstation?: string;
  }
  const httpntlm: {
    ntlm: {
      createType1Message(options: NtlmOptions): string;
      parseType2Message(header: string, callback: (err: Error) => void): Type2Message | null;
      createType3Message(type2: Type2Message, options: NtlmOptions): string;
      create_NT_hashed_password(password: string): Buffer;
      create_LM_hashed_password(password: string): Buffer;
    };
  };
  export default httpntlm;
}
