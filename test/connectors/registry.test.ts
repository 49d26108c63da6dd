/** The connector registry (src/connectors/registry.ts): types registered by families, capabilities checked. */
import { afterEach, describe, expect, it } from "vitest";
import { closeConnectors, getConnector, registerConnectorType } from "../../src/connectors/registry.js";
import type { Capability, Connector } from "../../src/connectors/types.js";
import { ConfigurationError } from "../../src/errors.js";
import "../../src/families/index.js";

let closed = 0;
const fake = (type: string, capabilities: Capability[], fail = false): Connector => ({
  type,
  capabilities,
  close: async () => {
    closed++;
    if (fail) throw new Error(`${type} would not close`);
  },
});

afterEach(async () => {
  await closeConnectors();
});

describe("getConnector(type, capability)", () => {
  it("returns the registry family's connectors for the registry capability, one instance per type", () => {
    const a = getConnector("noop", "registry");
    expect(a.type).toBe("noop");
    expect(typeof a.domainCreate).toBe("function");
    expect(getConnector("noop", "registry")).toBe(a);
    expect(getConnector("epp", "registry").type).toBe("epp");
  });

  it("fails with a configuration error naming the type and what it offers when the capability is missing", () => {
    const err = (() => {
      try {
        getConnector("epp", "account");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as ConfigurationError).code).toBe("PV_CONFIG");
    expect((err as Error).message).toBe('connector_type "epp" does not offer the account capability (it offers: registry, host)');
  });

  it("fails with a configuration error for an unknown type, listing the known ones", () => {
    expect(() => getConnector("ldap-nope", "account")).toThrow(/no connector serves connector_type "ldap-nope" \(known: .*epp.*noop/);
  });

  it("refuses an instance that does not declare the capability it was registered with", () => {
    registerConnectorType({ type: "liar", capabilities: ["account"], create: () => fake("liar", []) });
    expect(() => getConnector("liar", "account")).toThrow(/registered with the account capability but does not declare it/);
  });

  it("closeConnectors closes every instance once, collects errors instead of throwing, and forgets them", async () => {
    registerConnectorType({ type: "fa", capabilities: ["account"], create: () => fake("fa", ["account"]) });
    registerConnectorType({ type: "fb", capabilities: ["account"], create: () => fake("fb", ["account"], true) });
    const a = getConnector("fa", "account");
    getConnector("fb", "account");
    closed = 0;
    const errors = await closeConnectors();
    expect(closed).toBeGreaterThanOrEqual(2);
    expect(errors.map((e) => e.message)).toEqual(["fb would not close"]);
    expect(await closeConnectors()).toEqual([]);
    expect(getConnector("fa", "account")).not.toBe(a);
  });
});
