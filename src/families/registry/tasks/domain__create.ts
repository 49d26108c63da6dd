/**
 * domain__create: RFC 5731 <domain:create> for a provision_domain row, then <domain:info> for the roid.
 * Reconciliation: a 2302 "object exists" is checked with <info>; when the domain is sponsored by our
 * account and carries our authInfo, an earlier attempt created it (its answer was lost) and the job
 * succeeds with reconciled = true.
 */
import { z } from "zod";
import { EppCommandError } from "../../../connectors/epp/errors.js";
import { EPP_RESULT } from "../../../connectors/epp/result-codes.js";
import { defineRegistryTask, registryResultData } from "../context.js";

export const domainCreateData = z.object({
  id: z.string().uuid(),
  accreditation_id: z.string().uuid(),
  name: z.string(),
  registration_period: z.number().int(),
  pw: z.string(),
  registrant: z.string().nullish(),
  admin_contact: z.string().nullish(),
  tech_contact: z.string().nullish(),
  billing_contact: z.string().nullish(),
  nameservers: z.array(z.string()).default([]),
});

export const domainCreate = defineRegistryTask({
  identifier: "domain__create",
  data: domainCreateData,
  async run({ data, acc, connector, cmd, followUp, log }) {
    const contacts = (["admin", "tech", "billing"] as const)
      .map((type) => ({ type, id: data[`${type}_contact`] }))
      .filter((c): c is { type: "admin" | "tech" | "billing"; id: string } => Boolean(c.id));
    let created;
    try {
      created = await connector.domainCreate(
        acc,
        { name: data.name, period: data.registration_period, authInfo: data.pw, registrant: data.registrant, contacts, nameservers: data.nameservers },
        cmd,
      );
    } catch (err) {
      if (!(err instanceof EppCommandError && err.result.code === EPP_RESULT.OBJECT_EXISTS)) throw err;
      const info = await connector.domainInfo(acc, { name: data.name, authInfo: data.pw }, followUp("reconcile")).catch(() => undefined);
      if (!info?.ours || info.authInfo !== data.pw) throw err;
      log.info({ roid: info.roid }, "2302 on create, but the domain is ours: an earlier attempt created it");
      return {
        resultData: { roid: info.roid, crDate: info.crDate, exDate: info.exDate, reconciled: true, ...registryResultData(info.result) },
        message: "created (reconciled after an ambiguous earlier attempt)",
      };
    }
    const info = await connector.domainInfo(acc, { name: data.name, authInfo: data.pw }, followUp("info"));
    return {
      resultData: { roid: info.roid, crDate: created.crDate, exDate: created.exDate, ...registryResultData(created.result) },
      message: created.result.msg,
    };
  },
});
