/** A plain text table: one header row, columns padded to their widest cell. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)\n';
  const cell = (v: unknown) =>
    v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    `${row
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()}\n`;
  return line(columns.map((c) => c.toUpperCase())) + cells.map(line).join('');
}

/** One record as `key  value` lines; nested values as compact JSON. */
export function record(obj: Record<string, unknown>, keys = Object.keys(obj)): string {
  return table(
    keys.filter((k) => obj[k] !== undefined).map((k) => ({ field: k, value: obj[k] })),
    ['field', 'value'],
  );
}

/** `[#####-----] 5/10` */
export function progressBar(done: number, total: number, width = 30): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`;
}
