/** Routing keys of outbox rows (src/events/cloud-event.ts routingKey): `<aggregate>.<status>`. */
import { describe, expect, it } from "vitest";
import { routingKey } from "../../src/events/cloud-event.js";

describe("routingKey", () => {
  it("is the aggregate before .status and the payload's status", () => {
    expect(routingKey({ event_type: "provision.status", payload: { status: "completed" } })).toBe("provision.completed");
    expect(routingKey({ event_type: "order.status", payload: { status: "failed" } })).toBe("order.failed");
    // seed 002's provisioning.task.status is published as task.completed / task.failed
    expect(routingKey({ event_type: "provisioning.task.status", payload: { status: "completed" } })).toBe("task.completed");
    expect(routingKey({ event_type: "provisioning.task.status", payload: { status: "failed" } })).toBe("task.failed");
  });

  it("keeps the event type when the payload has no usable status", () => {
    expect(routingKey({ event_type: "provision.status", payload: { status: "Not A Word" } })).toBe("provision.status");
    expect(routingKey({ event_type: "provision.status", payload: null })).toBe("provision.status");
  });
});
