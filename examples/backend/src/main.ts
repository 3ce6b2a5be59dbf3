import "reflect-metadata";
import type { Server } from "node:http";
import { NestFactory } from "@nestjs/core";
import { AppModule } from "./app.module";
import { ConfigError, loadConfig } from "./config";
import { JsonLogger, logJson, setBaseLogFields } from "./logger";
import { describeError } from "./database.service";

async function main(): Promise<void> {
  const config = loadConfig();
  setBaseLogFields({ colour: config.colour });

  const app = await NestFactory.create(AppModule.forRoot(config), {
    logger: new JsonLogger(),
    // Throw start-up errors to main() (clear message, exit 1) instead of process.abort().
    abortOnError: false,
  });
  // SIGTERM/SIGINT -> drain (health 503) -> close HTTP server -> close Postgres and Redis -> exit 0.
  app.enableShutdownHooks(["SIGTERM", "SIGINT"], { useProcessExit: true });
  // Keep idle keep-alive connections open longer than the edge keeps its idle server
  // connections, so the app never closes one just as HAProxy reuses it.
  const server = app.getHttpServer() as Server;
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await app.listen(config.port, config.host);
  logJson("info", "listening", { host: config.host, port: config.port, drain_ms: config.shutdownDrainMs });
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    logJson("fatal", `cannot start: ${error.message}`, { problems: error.problems });
  } else {
    logJson("fatal", `cannot start: ${describeError(error)}`);
  }
  process.exit(1);
});
