import { Controller, Get } from "@nestjs/common";
import { HealthCheck, HealthCheckService, HealthIndicatorService } from "@nestjs/terminus";
import { DatabaseService, describeError } from "./database.service";
import { RedisService } from "./redis.service";
import { ShutdownService } from "./shutdown.service";

/** Each dependency check gives up after this long, so a hung dependency reads as "down", not as a hang. */
const CHECK_TIMEOUT_MS = 2_000;

function withTimeout<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} timed out after ${CHECK_TIMEOUT_MS} ms`)),
      CHECK_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * GET /health: 200 {"status":"ok",...} when Postgres answers SELECT 1 and Redis answers PING;
 * 503 {"status":"error",...} when one of them fails or while the app is draining after SIGTERM.
 */
@Controller("health")
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly shutdown: ShutdownService,
    private readonly database: DatabaseService,
    private readonly redis: RedisService,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      async () => {
        const lifecycle = this.indicators.check("lifecycle");
        return this.shutdown.isShuttingDown ? lifecycle.down({ message: "shutting down" }) : lifecycle.up();
      },
      async () => {
        const postgres = this.indicators.check("postgres");
        try {
          await withTimeout("SELECT 1", this.database.pool.query("SELECT 1"));
          return postgres.up();
        } catch (error) {
          return postgres.down({ message: describeError(error) });
        }
      },
      async () => {
        const redis = this.indicators.check("redis");
        try {
          const reply = await withTimeout("PING", this.redis.client.ping());
          return reply === "PONG" ? redis.up() : redis.down({ message: `unexpected PING reply ${reply}` });
        } catch (error) {
          return redis.down({ message: describeError(error) });
        }
      },
    ]);
  }
}
