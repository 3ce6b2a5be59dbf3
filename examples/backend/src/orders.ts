import { createHash } from "node:crypto";
import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Get,
  Headers,
  HttpCode,
  Injectable,
  Post,
  Res,
  UnprocessableEntityException,
} from "@nestjs/common";
import type { Response } from "express";
import { DatabaseService } from "./database.service";

export interface Order {
  id: number;
  item: string;
  quantity: number;
  created_at: string;
}

export interface OrderStats {
  count: number;
  maxId: number;
  checksum: string;
}

const MAX_ITEM_LENGTH = 200;
const MAX_QUANTITY = 2_147_483_647; // Postgres int

/**
 * Validates a POST /api/orders body; returns the clean value or throws 400 naming every bad field.
 * No class-validator: two fields do not need a dependency.
 */
export function parseOrderInput(body: unknown): { item: string; quantity: number } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequestException(
      'request body must be a JSON object like {"item": "widget", "quantity": 2} (Content-Type: application/json)',
    );
  }
  const { item, quantity } = body as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof item !== "string" || item.trim() === "") {
    problems.push("item must be a non-empty string");
  } else if (item.length > MAX_ITEM_LENGTH) {
    problems.push(`item must be at most ${MAX_ITEM_LENGTH} characters`);
  }
  if (
    typeof quantity !== "number" ||
    !Number.isInteger(quantity) ||
    quantity < 1 ||
    quantity > MAX_QUANTITY
  ) {
    problems.push(
      `quantity must be a positive integer (1 to ${MAX_QUANTITY}), got ${JSON.stringify(quantity)}`,
    );
  }
  if (problems.length > 0) throw new BadRequestException(problems);
  return { item: (item as string).trim(), quantity: quantity as number };
}

/** Longest Idempotency-Key accepted (a UUID has 36 characters). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/** Response header on a POST answered from the row an earlier request with the same key wrote. */
export const REPLAYED_HEADER = "Idempotent-Replayed";

/**
 * Parses the Idempotency-Key request header: undefined without one, else the key. The
 * structured-field form of the IETF draft (`"8e03978e-..."`, quoted) and the bare form clients
 * such as Stripe's send (`8e03978e-...`) are the same key. Throws 400 naming what is expected.
 */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) throw new BadRequestException("send one Idempotency-Key header, not several");
  const trimmed = header.trim();
  const key = /^".*"$/.test(trimmed) ? trimmed.slice(1, -1) : trimmed;
  // Visible ASCII (0x21-0x7e) without the double quote (0x22).
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x21\x23-\x7e]+$/.test(key)) {
    throw new BadRequestException(
      `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters without spaces or quotes ` +
        `(a random UUID per order, reused only when retrying that order), got ${JSON.stringify(header.slice(0, 80))}`,
    );
  }
  return key;
}

/** What identifies the request a key was first used for: a retry must send the same order. */
export function requestHash(item: string, quantity: number): string {
  return createHash("sha256")
    .update(JSON.stringify([item, quantity]))
    .digest("hex");
}

type OrderRow = { id: string; item: string; quantity: number; created_at: Date };

function toOrder(row: OrderRow): Order {
  return {
    id: Number(row.id),
    item: row.item,
    quantity: row.quantity,
    created_at: row.created_at.toISOString(),
  };
}

/**
 * Checksum over every row in id order, so a disaster-recovery drill can compare a restored
 * database with the original. Each row is `id<TAB>item<TAB>quantity<TAB>created_at` with
 * created_at in UTC to the microsecond; rows joined by newlines; md5 of the whole text
 * (md5 of the empty string for an empty table). The same SQL can be run with psql directly.
 */
export const STATS_SQL = `
SELECT count(*)::text AS count,
       coalesce(max(id), 0)::text AS max_id,
       md5(coalesce(string_agg(
         id::text || E'\\t' || item || E'\\t' || quantity::text || E'\\t' ||
         to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
         E'\\n' ORDER BY id), '')) AS checksum
FROM orders`;

@Injectable()
export class OrdersService {
  constructor(private readonly database: DatabaseService) {}

  /**
   * Stores an order. With an idempotency key the key is stored in the same INSERT, and the
   * unique index on it decides: the first request with a key writes the row; any later one
   * (a client's retry after a lost answer, on any replica, also while the first is still
   * running: Postgres makes it wait for the first's commit) writes nothing and gets the row the
   * first wrote, `replayed`. A key reused for a different order is refused (422).
   */
  async create(
    item: string,
    quantity: number,
    idempotencyKey?: string,
  ): Promise<{ order: Order; replayed: boolean }> {
    if (idempotencyKey === undefined) {
      const result = await this.database.pool.query<OrderRow>(
        "INSERT INTO orders (item, quantity) VALUES ($1, $2) RETURNING id, item, quantity, created_at",
        [item, quantity],
      );
      return { order: toOrder(result.rows[0]), replayed: false };
    }
    const hash = requestHash(item, quantity);
    // Twice at most: the row found by the conflict could be deleted before it is read back.
    for (let attempt = 1; attempt <= 2; attempt++) {
      const inserted = await this.database.pool.query<OrderRow>(
        `INSERT INTO orders (item, quantity, idempotency_key, request_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id, item, quantity, created_at`,
        [item, quantity, idempotencyKey, hash],
      );
      if (inserted.rows.length === 1) return { order: toOrder(inserted.rows[0]), replayed: false };
      const existing = await this.database.pool.query<OrderRow & { request_hash: string | null }>(
        "SELECT id, item, quantity, created_at, request_hash FROM orders WHERE idempotency_key = $1",
        [idempotencyKey],
      );
      const row = existing.rows[0];
      if (row === undefined) continue;
      if (row.request_hash !== hash) {
        throw new UnprocessableEntityException(
          `Idempotency-Key ${JSON.stringify(idempotencyKey)} was already used for a different order (order ${row.id}); ` +
            "a retry must send the same item and quantity, a new order needs a new key",
        );
      }
      return { order: toOrder(row), replayed: true };
    }
    throw new ConflictException(
      `Idempotency-Key ${JSON.stringify(idempotencyKey)}: the order stored with it changed while it was read; retry the request`,
    );
  }

  async stats(): Promise<OrderStats> {
    const result = await this.database.pool.query<{ count: string; max_id: string; checksum: string }>(
      STATS_SQL,
    );
    const row = result.rows[0];
    return { count: Number(row.count), maxId: Number(row.max_id), checksum: row.checksum };
  }
}

/** A small resource that writes to Postgres: used by the disaster-recovery drills. */
@Controller("api/orders")
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  /**
   * POST /api/orders. With an `Idempotency-Key` header a retried request never writes twice: it
   * gets the first request's order again, with the same 201 and `Idempotent-Replayed: true`.
   */
  @Post()
  @HttpCode(201)
  async create(
    @Body() body: unknown,
    @Headers("idempotency-key") keyHeader: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<Order> {
    const key = parseIdempotencyKey(keyHeader);
    const input = parseOrderInput(body);
    const { order, replayed } = await this.orders.create(input.item, input.quantity, key);
    if (replayed) res.setHeader(REPLAYED_HEADER, "true");
    return order;
  }

  @Get("stats")
  stats(): Promise<OrderStats> {
    return this.orders.stats();
  }
}
