/** "Did you mean" for misspelt config keys and namespaces. */

/** Letters and digits only, lower-cased: `postgres.memory`, `Postgres_Memory` -> `postgresmemory`. */
const normalise = (text: string) => text.toLowerCase().replace(/[^a-z0-9]/g, "");

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The candidate nearest to `word` (ignoring case and punctuation); ties go to the earlier one. */
export function nearest(word: string, candidates: readonly string[]): string {
  const target = normalise(word);
  let best = candidates[0];
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(target, normalise(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** True when `word` is a plausible misspelling of `target` (at most a third of it differs). */
export function isNear(word: string, target: string): boolean {
  const a = normalise(word);
  const b = normalise(target);
  return editDistance(a, b) <= Math.max(1, Math.floor(b.length / 3));
}
