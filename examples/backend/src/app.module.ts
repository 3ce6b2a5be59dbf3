import { DynamicModule, MiddlewareConsumer, Module, NestModule } from "@nestjs/common";
import { TerminusModule } from "@nestjs/terminus";
import { APP_CONFIG, type AppConfig } from "./config";
import { DatabaseService } from "./database.service";
import { HealthController } from "./health.controller";
import { MetricsController, MetricsService, RequestObserverMiddleware } from "./metrics";
import { OrdersController, OrdersService } from "./orders";
import { PingController } from "./ping.controller";
import { RedisService } from "./redis.service";
import { ShutdownService } from "./shutdown.service";

/**
 * The whole app is one module. ShutdownService lives here, in the root module, on purpose: Nest
 * runs beforeApplicationShutdown hooks root module first, so the drain (health 503 with
 * status "error") happens before Terminus marks itself as shutting down.
 */
@Module({})
export class AppModule implements NestModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [TerminusModule.forRoot({ errorLogStyle: "json" })],
      controllers: [HealthController, MetricsController, PingController, OrdersController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        ShutdownService,
        DatabaseService,
        RedisService,
        MetricsService,
        OrdersService,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequestObserverMiddleware).forRoutes("*path");
  }
}
