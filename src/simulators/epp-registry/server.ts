/**
 * A built-in EPP registry (RFC 5730-5734) over TLS: greeting, hello, login with a password,
 * logout, domain check/create/info/renew/delete, contact check/create/info, host check/create/info,
 * svTRIDs, and fault injection ({@link FaultPlan}). Used by `npm start`, `provisio simulator` and the tests.
 * Each executed command is emitted as a "command" event `{ name, clID, code }`; a login's event also
 * carries `objURIs`, the object services the client asked for in <svcs>.
 */
import { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { FrameDecoder, encodeFrame } from "../../connectors/epp/frame.js";
import { EPP_RESULT_MESSAGE } from "../../connectors/epp/result-codes.js";
import { NS, buildEpp, child, children, parseEpp, parseEppRaw, text, type XmlNode } from "../../connectors/epp/xml.js";
import type { Logger } from "../../logger.js";
import type { Service } from "../../services.js";
import { makeCertificate, type SimulatorCertificate } from "./certificate.js";
import { FaultPlan, type FaultAction } from "./faults.js";
import { RegistryHandlers } from "./handlers.js";
import { RegistryStore } from "./store.js";

export interface SimulatorOptions {
  /** registrar accounts: clID -> password */
  registrars: Record<string, string>;
  /** TLDs this registry serves, without the leading dot */
  tlds: string[];
  host?: string;
  /** 0 picks a free port */
  port?: number;
  certificate?: SimulatorCertificate;
  log?: Logger;
  svID?: string;
}

interface Connection {
  socket: tls.TLSSocket;
  clID?: string;
  /** commands are answered strictly in order */
  queue: Promise<void>;
}

/**
 * The object types this registry serves (RFC 5731 domain, RFC 5733 contact, RFC 5732 host): the greeting's
 * <objURI>s, and how a command's object is recognised (by its namespace URI).
 */
export const SERVED_OBJECTS = ["domain", "contact", "host"] as const;
const OBJECTS: Record<string, string> = Object.fromEntries(SERVED_OBJECTS.map((o) => [NS[o], o]));
const VERBS = ["check", "info", "create", "renew", "delete", "update", "transfer"];

export class EppRegistrySimulator extends EventEmitter {
  readonly store = new RegistryStore();
  readonly faults = new FaultPlan();
  /** commands received, by name ("domain:create", "login", ...) */
  readonly commandCounts = new Map<string, number>();
  private server: tls.Server | undefined;
  private readonly connections = new Set<Connection>();
  private svSeq = 0;
  private handlers: RegistryHandlers;
  certificate: SimulatorCertificate | undefined;

  constructor(private readonly opts: SimulatorOptions) {
    super();
    this.handlers = new RegistryHandlers(this.store, opts.tlds);
  }

  /** Listen; resolves with the bound port. */
  async start(): Promise<number> {
    this.certificate = this.opts.certificate ?? (await makeCertificate());
    const server = tls.createServer({ cert: this.certificate.cert, key: this.certificate.key, minVersion: "TLSv1.2" }, (socket) => this.accept(socket));
    server.on("tlsClientError", (err) => this.opts.log?.debug({ err: err.message }, "simulator: TLS client error"));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? "127.0.0.1", () => resolve());
    });
    this.server = server;
    return this.port;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  /** Sessions currently connected. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Close every connection and stop listening. */
  async stop(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    this.connections.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(socket: tls.TLSSocket): void {
    const conn: Connection = { socket, queue: Promise.resolve() };
    this.connections.add(conn);
    const decoder = new FrameDecoder(64 * 1024);
    socket.on("close", () => this.connections.delete(conn));
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      let frames: string[];
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const frame of frames)
        conn.queue = conn.queue
          .then(() => this.onFrame(conn, frame))
          .catch(() => {
            socket.destroy();
          });
    });
    if (this.faults.greetingDelayMs) setTimeout(() => this.send(conn, this.greeting()), this.faults.greetingDelayMs);
    else this.send(conn, this.greeting());
  }

  private greeting(): string {
    return buildEpp({
      greeting: {
        svID: this.opts.svID ?? "provisio EPP registry simulator",
        svDate: new Date().toISOString(),
        svcMenu: { version: "1.0", lang: "en", objURI: SERVED_OBJECTS.map((o) => NS[o]) },
        dcp: { access: { all: "" }, statement: { purpose: { admin: "", prov: "" }, recipient: { ours: "", public: "" }, retention: { stated: "" } } },
      },
    });
  }

  private send(conn: Connection, xml: string): void {
    if (!conn.socket.destroyed) conn.socket.write(encodeFrame(xml));
  }

  private response(code: number, clTRID: string | undefined, resData?: XmlNode, reason?: string): string {
    const result: XmlNode = { "@_code": code, msg: EPP_RESULT_MESSAGE[code] ?? "Command failed" };
    if (reason) result.extValue = { value: "", reason };
    return buildEpp({
      response: {
        result,
        ...(resData ? { resData } : {}),
        trID: { ...(clTRID ? { clTRID } : {}), svTRID: `SIM-${++this.svSeq}` },
      },
    });
  }

  private async onFrame(conn: Connection, frame: string): Promise<void> {
    let epp: XmlNode;
    try {
      epp = parseEpp(frame);
    } catch {
      this.send(conn, this.response(2001, undefined, undefined, "malformed XML"));
      return;
    }
    if (child(epp, "hello") !== undefined || epp.hello === "") {
      this.count("hello");
      this.send(conn, this.greeting());
      return;
    }
    const command = child(epp, "command");
    if (!command) {
      this.send(conn, this.response(2001, undefined, undefined, "expected <hello> or <command>"));
      return;
    }
    const clTRID = text(command, "clTRID");
    const { name, obj, verb } = this.classify(frame, command);
    this.count(name);
    const fault = this.faults.take(name);
    if (this.faults.latencyMs) await new Promise((r) => setTimeout(r, this.faults.latencyMs));

    if (fault?.kind === "respond") {
      this.send(conn, this.response(fault.code, clTRID));
      if (fault.code >= 2500) conn.socket.end();
      return;
    }
    if (fault && !fault.afterExecute) {
      this.misbehave(conn, fault, clTRID);
      return;
    }
    const reply = this.execute(conn, command, name, obj, verb);
    const objURIs = name === "login" ? children(child(child(command, "login"), "svcs"), "objURI").map((u) => text(u) ?? "") : undefined;
    this.emit("command", { name, clID: conn.clID, code: reply.code, ...(objURIs ? { objURIs } : {}) });
    if (fault) {
      this.misbehave(conn, fault, clTRID);
      return;
    }
    this.send(conn, this.response(reply.code, clTRID, reply.resData, reply.reason));
    if (name === "logout" || reply.code >= 2500) conn.socket.end();
  }

  /** Apply a drop, stall or raw fault instead of answering. */
  private misbehave(conn: Connection, fault: FaultAction, clTRID: string | undefined): void {
    if (fault.kind === "drop") conn.socket.destroy();
    else if (fault.kind === "raw") {
      conn.socket.write(typeof fault.bytes === "function" ? fault.bytes(clTRID) : fault.bytes);
      if (fault.close) conn.socket.end();
    }
    // stall: never answer
  }

  private execute(conn: Connection, command: XmlNode, name: string, obj: string | undefined, verb: string | undefined) {
    if (name === "login") {
      const login = child(command, "login")!;
      const clID = text(login, "clID") ?? "";
      if (conn.clID) return { code: 2002, reason: "already logged in" };
      if (this.opts.registrars[clID] === undefined || this.opts.registrars[clID] !== text(login, "pw")) return { code: 2200 };
      conn.clID = clID;
      return { code: 1000 };
    }
    if (name === "logout") return { code: 1500 };
    if (!conn.clID) return { code: 2002, reason: "log in first" };
    if (!obj || !verb) return { code: 2000 };
    const el = child(child(command, verb), verb);
    if (!el) return { code: 2001 };
    return this.handlers.handle(obj, verb, el, conn.clID);
  }

  /** Resolve the command's object by namespace URI (the prefix is the client's choice). */
  private classify(frame: string, command: XmlNode): { name: string; obj?: string; verb?: string } {
    if (child(command, "login")) return { name: "login" };
    if (command.logout !== undefined) return { name: "logout" };
    const verb = VERBS.find((v) => command[v] !== undefined);
    if (!verb) return { name: "unknown" };
    const raw = child(child(parseEppRaw(frame), "command"), verb) ?? {};
    for (const [key, value] of Object.entries(raw)) {
      const [prefix, local] = key.includes(":") ? key.split(":") : ["", key];
      if (local !== verb || !value || typeof value !== "object") continue;
      const uri = (value as XmlNode)[prefix ? `@_xmlns:${prefix}` : "@_xmlns"];
      const obj = typeof uri === "string" ? OBJECTS[uri] : undefined;
      if (obj) return { name: `${obj}:${verb}`, obj, verb };
    }
    return { name: `unknown:${verb}`, verb };
  }

  private count(name: string): void {
    this.commandCounts.set(name, (this.commandCounts.get(name) ?? 0) + 1);
  }
}

/** A simulator as a {@link Service} (`provisio simulator`, `npm start`); its port is `simulator.port` once started. */
export class SimulatorService implements Service {
  readonly name = "EPP simulator";
  constructor(readonly simulator: EppRegistrySimulator) {}

  async start(): Promise<void> {
    await this.simulator.start();
  }

  stop(): Promise<void> {
    return this.simulator.stop();
  }
}
