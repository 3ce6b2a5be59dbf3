/** One benchmark figure: a measurement next to a baseline measured in the same run. */
export interface BenchResult {
  name: string;
  /** Baseline value (same unit as `measured`). */
  baseline: number;
  measured: number;
  /** measured / baseline (or the inverse where the bench says so in `notes`). */
  ratio: number;
  unit: string;
  /** The target, e.g. "ratio <= 2", and whether it was met. */
  target?: string;
  met?: boolean;
  notes?: string;
}

export interface BenchModule {
  run(): Promise<BenchResult[]>;
}
