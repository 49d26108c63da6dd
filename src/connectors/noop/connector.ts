/**
 * The no-op connector: offers the registry capability and answers every call with success at once,
 * without any network. For dry runs and for measuring provisio's own overhead (bench/). Results are
 * synthetic and marked with svTRID "NOOP-..." so they cannot be mistaken for a registry's; the clTRID is
 * the one the EPP adapter would have sent ("<correlationId>-<attempt>[-<step>]").
 */
import type {
  Accreditation,
  ContactCreateInput,
  ContactCreateResult,
  ContactInfoResult,
  DomainCreateInput,
  DomainCreateResult,
  DomainInfoResult,
  DomainRenewInput,
  DomainRenewResult,
  RegistryOperations,
  RegistryOutcome,
  RegistryResult,
} from "../capabilities/registry.js";
import type { Capability, CommandContext, Connector } from "../types.js";
import { addYears } from "../../util/dates.js";

let seq = 0;
const ok = (ctx: CommandContext): RegistryResult => ({
  code: 1000,
  msg: "Command completed successfully",
  clTRID: `${ctx.correlationId}-${ctx.attempt}${ctx.step ? `-${ctx.step}` : ""}`,
  svTRID: `NOOP-${++seq}`,
});

export class NoopConnector implements Connector, RegistryOperations {
  readonly type = "noop";
  readonly capabilities: readonly Capability[] = ["registry"];
  async contactCreate(_acc: Accreditation, input: ContactCreateInput, ctx: CommandContext): Promise<ContactCreateResult> {
    return { id: input.id, crDate: new Date().toISOString(), result: ok(ctx) };
  }
  async contactInfo(_acc: Accreditation, input: { id: string; authInfo?: string }, ctx: CommandContext): Promise<ContactInfoResult> {
    return { id: input.id, roid: `NOOP-C-${input.id}`, clID: "noop", ours: true, authInfo: input.authInfo, result: ok(ctx) };
  }
  async domainCreate(_acc: Accreditation, input: DomainCreateInput, ctx: CommandContext): Promise<DomainCreateResult> {
    const now = new Date();
    return { name: input.name, crDate: now.toISOString(), exDate: addYears(now, input.period).toISOString(), result: ok(ctx) };
  }
  async domainInfo(_acc: Accreditation, input: { name: string; authInfo?: string }, ctx: CommandContext): Promise<DomainInfoResult> {
    return { name: input.name, roid: `NOOP-D-${input.name}`, clID: "noop", ours: true, status: ["ok"], authInfo: input.authInfo, result: ok(ctx) };
  }
  async domainRenew(_acc: Accreditation, input: DomainRenewInput, ctx: CommandContext): Promise<DomainRenewResult> {
    return { name: input.name, exDate: addYears(new Date(`${input.curExpDate}T00:00:00Z`), input.period).toISOString(), result: ok(ctx) };
  }
  async domainDelete(_acc: Accreditation, _input: { name: string }, ctx: CommandContext): Promise<RegistryOutcome> {
    return { result: ok(ctx) };
  }
  async close(): Promise<void> {}
}
