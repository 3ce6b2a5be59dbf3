import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from "@nestjs/common";
import { Pool } from "pg";
import { APP_CONFIG, type AppConfig } from "./config";
import { logJson } from "./logger";

/**
 * Idempotent schema migration; the advisory lock lets several replicas boot at the same time.
 * `idempotency_key` is the client's Idempotency-Key of the POST that created the row, stored with
 * the row in the same INSERT; its unique index is what makes a retried POST write at most once,
 * also when the retry runs on another replica at the same moment (orders.ts). `request_hash`
 * tells a retry from a different request that reuses a key. Both are added to an existing table.
 */
export const MIGRATION_SQL = `
SELECT pg_advisory_xact_lock(4242001);
CREATE TABLE IF NOT EXISTS orders (
  id bigserial PRIMARY KEY,
  item text NOT NULL,
  quantity int NOT NULL CHECK (quantity > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE orders ADD COLUMN IF NOT EXISTS idempotency_key text;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS request_hash text;
CREATE UNIQUE INDEX IF NOT EXISTS orders_idempotency_key ON orders (idempotency_key);`;

/** Error message without the password that a connection string may carry. */
export function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\/\/([^:/@]*):[^@]*@/g, "//$1:***@");
}

/** The Postgres pool, created at start-up and ended after the HTTP server has closed. */
@Injectable()
export class DatabaseService implements OnModuleInit, OnApplicationShutdown {
  readonly pool: Pool;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.pool = new Pool({
      connectionString: config.databaseUrl,
      max: 10,
      connectionTimeoutMillis: 2_000,
      idleTimeoutMillis: 30_000,
      query_timeout: 5_000,
      application_name: `backend-${config.colour}`,
    });
    // An idle client whose server went away emits 'error' on the pool; without a listener that
    // would crash the process. The next query gets a fresh connection instead.
    this.pool.on("error", (error) =>
      logJson("warn", "postgres: idle client error", { error: describeError(error) }),
    );
  }

  /** Runs the migration, retrying while Postgres is not reachable yet (containers start in any order). */
  async onModuleInit(): Promise<void> {
    const deadline = Date.now() + this.config.startupDbTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.migrate();
        logJson("info", "postgres: schema ready", { attempt });
        return;
      } catch (error) {
        if (Date.now() >= deadline) {
          throw new Error(
            `postgres: cannot prepare the schema after ${attempt} attempts in ${this.config.startupDbTimeoutMs} ms ` +
              `(DATABASE_URL host ${safeHost(this.config.databaseUrl)}): ${describeError(error)}`,
          );
        }
        logJson("warn", "postgres: not ready, retrying", { attempt, error: describeError(error) });
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 200 * attempt)));
      }
    }
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(MIGRATION_SQL);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
    logJson("info", "postgres: pool closed");
  }
}

function safeHost(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || "5432"}`;
  } catch {
    return "(unparsable)";
  }
}
