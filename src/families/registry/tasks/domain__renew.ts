/**
 * domain__renew: RFC 5731 <domain:renew> with the inventory's curExpDate.
 * Reconciliation: on a retry, 2306 (curExpDate no longer matches) is checked with <info>; if the
 * registry's expiry already equals curExpDate + period, an earlier attempt renewed it.
 */
import { z } from "zod";
import { EppCommandError } from "../../../connectors/epp/errors.js";
import { EPP_RESULT } from "../../../connectors/epp/result-codes.js";
import { addYears } from "../../../util/dates.js";
import { defineRegistryTask, registryResultData } from "../context.js";

export const domainRenewData = z.object({
  id: z.string().uuid(),
  accreditation_id: z.string().uuid(),
  name: z.string(),
  period: z.number().int(),
  current_expiry_date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
});

export const domainRenew = defineRegistryTask({
  identifier: "domain__renew",
  data: domainRenewData,
  async run({ data, job, acc, connector, cmd, followUp, log }) {
    try {
      const renewed = await connector.domainRenew(acc, { name: data.name, curExpDate: data.current_expiry_date, period: data.period }, cmd);
      return { resultData: { exDate: renewed.exDate, ...registryResultData(renewed.result) }, message: renewed.result.msg };
    } catch (err) {
      if (!(err instanceof EppCommandError && err.result.code === EPP_RESULT.PARAMETER_VALUE_POLICY_ERROR && job.attempts > 1)) throw err;
      const info = await connector.domainInfo(acc, { name: data.name }, followUp("reconcile")).catch(() => undefined);
      if (
        !info?.ours ||
        info.exDate?.slice(0, 10) !==
          addYears(new Date(`${data.current_expiry_date}T00:00:00Z`), data.period)
            .toISOString()
            .slice(0, 10)
      )
        throw err;
      log.info({ exDate: info.exDate }, "2306 on renew retry, but the expiry already moved: an earlier attempt renewed it");
      return { resultData: { exDate: info.exDate, reconciled: true, ...registryResultData(info.result) }, message: "renewed (reconciled)" };
    }
  },
});
