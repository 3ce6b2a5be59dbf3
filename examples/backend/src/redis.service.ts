import { Inject, Injectable, OnApplicationShutdown } from "@nestjs/common";
import Redis from "ioredis";
import { APP_CONFIG, type AppConfig } from "./config";
import { describeError } from "./database.service";
import { logJson } from "./logger";

/** The Redis connection. Commands fail fast while it is down (no offline queue), so /health never hangs. */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  readonly client: Redis;
  private lastError = "";

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.client = new Redis(config.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(times * 200, 2_000),
      connectionName: `backend-${config.colour}`,
    });
    this.client.on("ready", () => {
      this.lastError = "";
      logJson("info", "redis: ready");
    });
    // Log each distinct error once instead of once per reconnect attempt.
    this.client.on("error", (error) => {
      const message = describeError(error);
      if (message !== this.lastError) logJson("warn", "redis: connection error", { error: message });
      this.lastError = message;
    });
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.client.status === "ready") {
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
    logJson("info", "redis: connection closed");
  }
}
