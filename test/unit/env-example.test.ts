import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config.ts';

describe('.env.example', () => {
  it('documents exactly the variables the config schema reads', () => {
    const documented = readFileSync('.env.example', 'utf8')
      .split('\n')
      .map((l) => /^([A-Z_]+)=/.exec(l)?.[1])
      .filter(Boolean)
      .sort();
    expect(documented).toEqual(Object.keys(ConfigSchema.shape).sort());
  });
});
