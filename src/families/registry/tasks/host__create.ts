/**
 * host__create: RFC 5732 <host:create> for a provision_host row, then <host:info> for the roid.
 * Reconciliation: a 2302 "object exists" is checked with <info>; when the host is sponsored by our
 * account and has exactly the addresses asked for, an earlier attempt created it (its answer was lost)
 * and the job succeeds with reconciled = true. Hosts have no authInfo (RFC 5732 §2), so the sponsor and
 * the addresses are all there is to compare.
 */
import { z } from "zod";
import type { HostAddr } from "../../../connectors/capabilities/registry.js";
import { EppCommandError } from "../../../connectors/epp/errors.js";
import { EPP_RESULT } from "../../../connectors/epp/result-codes.js";
import { defineRegistryTask, registryResultData } from "../context.js";

export const hostCreateData = z.object({
  id: z.string().uuid(),
  accreditation_id: z.string().uuid(),
  name: z.string(),
  /** IPv4 addresses, text (validated and normalised by the table's validation trigger) */
  addrs_v4: z.array(z.string()).nullish(),
  /** IPv6 addresses, text */
  addrs_v6: z.array(z.string()).nullish(),
});

const key = (a: HostAddr) => `${a.ip}/${a.addr.toLowerCase()}`;
const sameAddrs = (a: HostAddr[], b: HostAddr[]) => a.map(key).sort().join(",") === b.map(key).sort().join(",");

export const hostCreate = defineRegistryTask({
  identifier: "host__create",
  capability: "host",
  data: hostCreateData,
  async run({ data, acc, connector, cmd, followUp, log }) {
    const addrs: HostAddr[] = [
      ...(data.addrs_v4 ?? []).map((addr) => ({ ip: "v4" as const, addr })),
      ...(data.addrs_v6 ?? []).map((addr) => ({ ip: "v6" as const, addr })),
    ];
    let created;
    try {
      created = await connector.hostCreate(acc, { name: data.name, addrs }, cmd);
    } catch (err) {
      if (!(err instanceof EppCommandError && err.result.code === EPP_RESULT.OBJECT_EXISTS)) throw err;
      const info = await connector.hostInfo(acc, { name: data.name }, followUp("reconcile")).catch(() => undefined);
      if (!info?.ours || !sameAddrs(info.addrs, addrs)) throw err;
      log.info({ roid: info.roid }, "2302 on host create, but the host is ours with these addresses: an earlier attempt created it");
      return {
        resultData: { roid: info.roid, crDate: info.crDate, reconciled: true, ...registryResultData(info.result) },
        message: "created (reconciled after an ambiguous earlier attempt)",
      };
    }
    const info = await connector.hostInfo(acc, { name: data.name }, followUp("info"));
    return { resultData: { roid: info.roid, crDate: created.crDate, ...registryResultData(created.result) }, message: created.result.msg };
  },
});
