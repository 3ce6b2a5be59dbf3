import type { Server } from "node:http";
import { BeforeApplicationShutdown, Inject, Injectable } from "@nestjs/common";
import { HttpAdapterHost } from "@nestjs/core";
import { APP_CONFIG, type AppConfig } from "./config";
import { logJson } from "./logger";

/**
 * The drain phase of a graceful stop.
 *
 * Nest (enableShutdownHooks) calls `beforeApplicationShutdown` on SIGTERM, root module first.
 * From then on /health answers 503 so the edge takes this replica out of rotation, while the
 * server keeps answering everything else; after SHUTDOWN_DRAIN_MS Nest closes the HTTP server
 * (in-flight requests finish), then `onApplicationShutdown` hooks close Postgres and Redis.
 */
@Injectable()
export class ShutdownService implements BeforeApplicationShutdown {
  private shuttingDownSince: number | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  get isShuttingDown(): boolean {
    return this.shuttingDownSince !== undefined;
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    if (this.shuttingDownSince !== undefined) return;
    this.shuttingDownSince = Date.now();
    const drainMs = this.config.shutdownDrainMs;
    logJson("info", "shutdown: draining, /health answers 503", { signal, drain_ms: drainMs });
    // Last resort: a request that never finishes must not keep a stopping replica alive forever.
    const hardLimitMs = drainMs + 15_000;
    setTimeout(() => {
      logJson("error", "shutdown: still running long after the drain, exiting with status 1", {
        hard_limit_ms: hardLimitMs,
      });
      process.exit(1);
    }, hardLimitMs).unref();
    await new Promise((resolve) => setTimeout(resolve, drainMs));
    logJson("info", "shutdown: drain over, closing the HTTP server", { signal });
    this.closeKeepAliveConnectionsAsTheyGoIdle();
  }

  /**
   * Nest closes the HTTP server next; Node then closes the connections that are idle at that
   * moment, but a keep-alive connection whose request is still running stays open after its
   * response, until keepAliveTimeout. Close each one as soon as it has no request in flight.
   */
  private closeKeepAliveConnectionsAsTheyGoIdle(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server || typeof server.closeIdleConnections !== "function") return;
    const timer = setInterval(() => server.closeIdleConnections(), 50);
    timer.unref();
    server.once("close", () => clearInterval(timer));
  }
}
