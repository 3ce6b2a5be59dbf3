import { BadRequestException, Controller, Get, Inject, Query } from "@nestjs/common";
import { APP_CONFIG, type AppConfig } from "./config";

/** Upper bound of `?delay_ms=`, so the slow mode cannot pin connections for long. */
export const MAX_PING_DELAY_MS = 10_000;

/**
 * GET /ping: cheap endpoint for load tests and traffic-switch checks; touches no database.
 * `?delay_ms=N` (0-10000) answers after N ms: a slow in-flight request for shutdown and
 * switch tests. The x-backend-colour header is set on every response by RequestObserverMiddleware.
 */
@Controller("ping")
export class PingController {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get()
  async ping(@Query("delay_ms") delay?: string): Promise<{ colour: string }> {
    if (delay !== undefined) {
      const ms = Number(delay);
      if (!/^\d+$/.test(delay) || ms > MAX_PING_DELAY_MS) {
        throw new BadRequestException(`delay_ms must be an integer from 0 to ${MAX_PING_DELAY_MS}`);
      }
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
    return { colour: this.config.colour };
  }
}
