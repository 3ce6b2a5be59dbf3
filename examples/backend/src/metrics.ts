import { Controller, Get, Header, Inject, Injectable, NestMiddleware } from "@nestjs/common";
import type { NextFunction, Request, Response } from "express";
import { collectDefaultMetrics, Histogram, Registry } from "prom-client";
import { APP_CONFIG, type AppConfig } from "./config";
import { logJson } from "./logger";
import { ShutdownService } from "./shutdown.service";

/** Latency buckets in seconds; 0.2 s is the latency objective the alert rules use. */
export const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5];

/** The app's own registry: prom-client defaults plus the HTTP histogram, all labelled with the slot colour. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<"method" | "route" | "status_code">;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.registry.setDefaultLabels({ colour: config.colour });
    collectDefaultMetrics({ register: this.registry });
    this.httpDuration = new Histogram({
      name: "http_request_duration_seconds",
      help: "Duration of HTTP requests in seconds, by method, route template and status code.",
      labelNames: ["method", "route", "status_code"],
      buckets: HTTP_BUCKETS,
      registers: [this.registry],
    });
  }
}

/**
 * Runs for every request: times it, records the histogram with the route TEMPLATE (not the raw
 * path, to keep label cardinality bounded; "unmatched" for 404s), writes one JSON log line, sets
 * `x-backend-colour` on every response (lets tests count canary shares through the edge), and
 * while draining asks keep-alive clients to reconnect elsewhere (Connection: close).
 */
@Injectable()
export class RequestObserverMiddleware implements NestMiddleware {
  constructor(
    private readonly metrics: MetricsService,
    private readonly shutdown: ShutdownService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const start = process.hrtime.bigint();
    res.setHeader("x-backend-colour", this.config.colour);
    if (this.shutdown.isShuttingDown) res.setHeader("Connection", "close");
    res.once("finish", () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const routePath: unknown = (req as Request & { route?: { path?: unknown } }).route?.path;
      const route = typeof routePath === "string" ? `${req.baseUrl}${routePath}` : "unmatched";
      const status = String(res.statusCode);
      this.metrics.httpDuration.observe({ method: req.method, route, status_code: status }, seconds);
      if (this.config.logRequests) {
        logJson("info", "request", {
          method: req.method,
          path: req.originalUrl,
          route,
          status: res.statusCode,
          duration_ms: Math.round(seconds * 1e6) / 1e3,
          remote: req.socket.remoteAddress,
        });
      }
    });
    next();
  }
}

@Controller("metrics")
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
  async scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
