/**
 * An outbox row (table `event`, migrations/0001) as the message the relay publishes: a CloudEvents 1.0
 * event in structured JSON mode (CloudEvents spec v1.0.2 §3 and its JSON format §3: the whole event is
 * the message body, content type `application/cloudevents+json`), and the AMQP routing key it is sent
 * with on the topic exchange `provisio.events`.
 */
import { z } from "zod";

/** The topic exchange every event is published to (durable, declared by the relay). */
export const EVENTS_EXCHANGE = "provisio.events";

/** Content type of a structured-mode CloudEvent (CloudEvents JSON format §3). */
export const CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json";

/** Prefix of every CloudEvents `type`: `io.provisio.<routing key>`, e.g. `io.provisio.provision.completed`. */
export const CLOUDEVENTS_TYPE_PREFIX = "io.provisio.";

/** One row of table `event` as node-postgres returns it (bigint `id` as a string, `payload` unparsed). */
export interface EventRow {
  id: string;
  tenant_customer_id: string;
  /** `provision.status` or `order.status` (stored-procedures/engine/order/rollup.sql) */
  event_type: string;
  /** the provision table (`provision_domain`, ...) or `order` */
  reference_table: string;
  reference_id: string;
  payload: unknown;
  created_date: Date;
}

/** A CloudEvents 1.0 event as provisio publishes it. */
export interface ProvisioCloudEvent {
  specversion: "1.0";
  /** the event row's id (a bigint, as a decimal string): the same on every redelivery */
  id: string;
  /** `/provisio/<reference_table>`, e.g. `/provisio/provision_domain`, `/provisio/order` */
  source: string;
  /** `io.provisio.<routing key>`, e.g. `io.provisio.order.failed` */
  type: string;
  /** the provision's or order's id (uuid) */
  subject: string;
  /** when the status changed: the row's created_date, RFC 3339 */
  time: string;
  datacontenttype: "application/json";
  /** the row's payload (`status`, and for provisions `job_id`, `result_message`) plus `tenant_customer_id` and `reference_table` */
  data: Record<string, unknown>;
}

/** A status name as routing-key word: lower case letters, digits and underscores (AMQP topic words are dot-separated). */
const payloadSchema = z.looseObject({
  status: z
    .string()
    .regex(/^[a-z0-9_]+$/)
    .optional(),
});

/**
 * The routing key of an event: the aggregate (the word of `event_type` before its last dot: `provision`
 * in `provision.status`, `order`, and `task` in seed 002's `provisioning.task.status`) and the status name
 * of the payload, e.g. `provision.completed`, `order.failed`, `task.completed`. A payload without a usable
 * status is sent with its `event_type` unchanged.
 */
export function routingKey(row: Pick<EventRow, "event_type" | "payload">): string {
  const parsed = payloadSchema.safeParse(row.payload);
  const status = parsed.success ? parsed.data.status : undefined;
  if (!status) return row.event_type;
  const words = row.event_type.split(".");
  return `${words[Math.max(0, words.length - 2)]}.${status}`;
}

/** The CloudEvent published for an outbox row (see {@link ProvisioCloudEvent} for each field). */
export function toCloudEvent(row: EventRow): ProvisioCloudEvent {
  const payload =
    row.payload && typeof row.payload === "object" && !Array.isArray(row.payload) ? (row.payload as Record<string, unknown>) : { value: row.payload };
  return {
    specversion: "1.0",
    id: String(row.id),
    source: `/provisio/${row.reference_table}`,
    type: `${CLOUDEVENTS_TYPE_PREFIX}${routingKey(row)}`,
    subject: row.reference_id,
    time: row.created_date.toISOString(),
    datacontenttype: "application/json",
    data: { ...payload, tenant_customer_id: row.tenant_customer_id, reference_table: row.reference_table },
  };
}
