/** One POSIX shell word: single-quoted, embedded single quotes closed and escaped. */
export const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
