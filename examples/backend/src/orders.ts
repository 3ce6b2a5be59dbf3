import { BadRequestException, Body, Controller, Get, HttpCode, Injectable, Post } from "@nestjs/common";
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

  async create(item: string, quantity: number): Promise<Order> {
    const result = await this.database.pool.query<{
      id: string;
      item: string;
      quantity: number;
      created_at: Date;
    }>("INSERT INTO orders (item, quantity) VALUES ($1, $2) RETURNING id, item, quantity, created_at", [
      item,
      quantity,
    ]);
    const row = result.rows[0];
    return {
      id: Number(row.id),
      item: row.item,
      quantity: row.quantity,
      created_at: row.created_at.toISOString(),
    };
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

  @Post()
  @HttpCode(201)
  create(@Body() body: unknown): Promise<Order> {
    const input = parseOrderInput(body);
    return this.orders.create(input.item, input.quantity);
  }

  @Get("stats")
  stats(): Promise<OrderStats> {
    return this.orders.stats();
  }
}
