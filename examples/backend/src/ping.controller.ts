import { Controller, Get, Inject } from "@nestjs/common";
import { APP_CONFIG, type AppConfig } from "./config";

/**
 * GET /ping: cheap endpoint for load tests and traffic-switch checks; touches no database.
 * The x-backend-colour header is set on every response by RequestObserverMiddleware.
 */
@Controller("ping")
export class PingController {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get()
  ping(): { colour: string } {
    return { colour: this.config.colour };
  }
}
