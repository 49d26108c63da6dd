/**
 * domain__delete: RFC 5731 <domain:delete>.
 * Reconciliation: on a retry, 2303 "object does not exist" means an earlier attempt deleted it.
 */
import { z } from "zod";
import { EppCommandError } from "../../../connectors/epp/errors.js";
import { EPP_RESULT } from "../../../connectors/epp/result-codes.js";
import { defineRegistryTask, registryResultData } from "../context.js";

export const domainDeleteData = z.object({
  id: z.string().uuid(),
  accreditation_id: z.string().uuid(),
  name: z.string(),
});

export const domainDelete = defineRegistryTask({
  identifier: "domain__delete",
  data: domainDeleteData,
  async run({ data, job, acc, connector, cmd, log }) {
    try {
      const r = await connector.domainDelete(acc, { name: data.name }, cmd);
      return { resultData: registryResultData(r.result), message: r.result.msg };
    } catch (err) {
      if (!(err instanceof EppCommandError && err.result.code === EPP_RESULT.OBJECT_DOES_NOT_EXIST && job.attempts > 1)) throw err;
      log.info("2303 on delete retry: an earlier attempt deleted it");
      return { resultData: { reconciled: true, ...registryResultData(err.result) }, message: "deleted (reconciled)" };
    }
  },
});
