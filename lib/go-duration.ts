/**
 * Formats whole seconds the way Go's `time.Duration.String()` does ("1m0s", "5m30s",
 * "1h0m0s"). The Docker provider reads container healthcheck durations back in this form,
 * so any other spelling ("60s") shows as a change on every preview.
 */
export function goDurationFromSeconds(seconds: number): string {
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new Error(`duration must be a whole number of seconds >= 0, got ${seconds}`);
  }
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (hours > 0) return `${hours}h${minutes}m${rest}s`;
  if (minutes > 0) return `${minutes}m${rest}s`;
  return `${rest}s`;
}
