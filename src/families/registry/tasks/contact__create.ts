/**
 * contact__create: RFC 5733 <contact:create>, then <contact:info> for the roid.
 * Reconciliation: 2302 is checked with <info>; ours with our authInfo means an earlier attempt made it.
 */
import { z } from "zod";
import { EppCommandError } from "../../../connectors/epp/errors.js";
import { EPP_RESULT } from "../../../connectors/epp/result-codes.js";
import { defineRegistryTask, registryResultData } from "../context.js";

export const contactCreateData = z.object({
  id: z.string().uuid(),
  accreditation_id: z.string().uuid(),
  contact_id: z.string(),
  name: z.string(),
  org: z.string().nullish(),
  street: z.array(z.string()).default([]),
  city: z.string(),
  sp: z.string().nullish(),
  pc: z.string().nullish(),
  cc: z.string(),
  voice: z.string().nullish(),
  fax: z.string().nullish(),
  email: z.string(),
  pw: z.string(),
});

export const contactCreate = defineRegistryTask({
  identifier: "contact__create",
  data: contactCreateData,
  async run({ data, acc, connector, cmd, followUp, log }) {
    try {
      const created = await connector.contactCreate(acc, { ...data, id: data.contact_id, authInfo: data.pw }, cmd);
      const info = await connector.contactInfo(acc, { id: data.contact_id, authInfo: data.pw }, followUp("info"));
      return { resultData: { roid: info.roid, crDate: created.crDate, ...registryResultData(created.result) }, message: created.result.msg };
    } catch (err) {
      if (!(err instanceof EppCommandError && err.result.code === EPP_RESULT.OBJECT_EXISTS)) throw err;
      const info = await connector.contactInfo(acc, { id: data.contact_id, authInfo: data.pw }, followUp("reconcile")).catch(() => undefined);
      if (!info?.ours || info.authInfo !== data.pw) throw err;
      log.info({ roid: info.roid }, "2302 on contact create, but the contact is ours: an earlier attempt created it");
      return { resultData: { roid: info.roid, crDate: info.crDate, reconciled: true, ...registryResultData(info.result) }, message: "created (reconciled)" };
    }
  },
});
