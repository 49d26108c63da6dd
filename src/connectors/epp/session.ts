/**
 * One EPP session over TLS (RFC 5734): connect, read the greeting (RFC 5730 §2.4), login, then one
 * command at a time (EPP sessions are request/response; provisio does not pipeline).
 * A session that times out, sees a protocol error or gets a 25xx result is closed and never reused.
 */
import tls from "node:tls";
import type { Logger } from "../../logger.js";
import { EppCommandError, EppTransportError, type EppResult } from "./errors.js";
import { FrameDecoder, encodeFrame } from "./frame.js";
import { SUPPORTED_OBJ_URIS, buildCommand, buildLogin, buildLogout, parseGreeting, parseResponse, type EppGreeting, type EppResponse } from "./protocol.js";
import { closesSession, isSuccess } from "./result-codes.js";
import type { XmlNode } from "./xml.js";

export interface EppSessionOptions {
  host: string;
  port: number;
  clID: string;
  /** resolved from the accreditation's secret reference just before this session is opened; never logged */
  password: string;
  /** PEM CA certificate(s) to trust (e.g. the simulator's), read just before this session is opened; default: the system store */
  ca?: string;
  rejectUnauthorized: boolean;
  servername?: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  log: Logger;
}

interface Pending {
  resolve: (xml: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class EppSession {
  private readonly decoder = new FrameDecoder();
  private pending: Pending | undefined;
  private closed = false;
  private closeReason: string | undefined;
  greeting: EppGreeting | undefined;
  /** when the session last finished a command (ms since epoch) */
  lastUsed = Date.now();

  private constructor(
    private readonly socket: tls.TLSSocket,
    /** the options without the password: a session does not hold on to the secret once logged in */
    private readonly opts: Omit<EppSessionOptions, "password">,
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err: Error) => this.fail(`connection error: ${err.message}`, err));
    socket.on("close", () => this.fail("connection closed by the server"));
  }

  /** True until the session is closed or broken. */
  get usable(): boolean {
    return !this.closed;
  }

  /**
   * Connect, read the greeting and log in (RFC 5730 §2.9.1.1).
   * @throws EppTransportError (transient, configSuspect, not ambiguous) on connection/TLS failure
   *         (refused, handshake, certificate verification: then also certificateRejected) or timeout
   *         before the login is answered;
   *         EppCommandError EPP2200/2201/2501 (transient, configSuspect) when the server refuses the
   *         login, other EPP2xxx as answered.
   */
  static async open(opts: EppSessionOptions, loginClTRID: string): Promise<EppSession> {
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({
        host: opts.host,
        port: opts.port,
        ca: opts.ca,
        rejectUnauthorized: opts.rejectUnauthorized,
        servername: opts.servername ?? (/^[\d.]+$|:/.test(opts.host) ? undefined : opts.host),
        minVersion: "TLSv1.2",
      });
      const timer = setTimeout(() => {
        s.destroy();
        reject(
          new EppTransportError("PV_EPP_CONNECT_TIMEOUT", `EPP connect to ${opts.host}:${opts.port} timed out after ${opts.connectTimeoutMs} ms`, {
            configSuspect: true,
          }),
        );
      }, opts.connectTimeoutMs);
      s.once("secureConnect", () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        // Node sets authorizationError before it destroys a socket whose peer failed verification
        const certificateRejected = Boolean(s.authorizationError);
        reject(
          new EppTransportError(err.code ?? "PV_EPP_CONNECT", `EPP connect to ${opts.host}:${opts.port} failed: ${err.message}`, {
            cause: err,
            configSuspect: true,
            certificateRejected,
          }),
        );
      });
    });
    const { password: _password, ...kept } = opts;
    const session = new EppSession(socket, kept);
    try {
      const greetingXml = await session.awaitFrame(opts.connectTimeoutMs, "greeting");
      session.greeting = parseGreeting(greetingXml);
      const objURIs = SUPPORTED_OBJ_URIS.filter((u) => session.greeting!.objURIs.includes(u));
      const login = parseResponse(await session.exchange(buildLogin(opts.clID, opts.password, objURIs, loginClTRID), opts.commandTimeoutMs, "login"));
      if (!isSuccess(login.result.code)) throw new EppCommandError(login.result, "login");
      opts.log.debug({ svID: session.greeting.svID }, "EPP session logged in");
      return session;
    } catch (err) {
      session.destroy("login failed");
      // no command of the caller was sent: not ambiguous; the settings may be out of date
      if (err instanceof EppTransportError) {
        throw new EppTransportError(err.code, err.message, { cause: err, configSuspect: true, certificateRejected: err.certificateRejected });
      }
      throw err;
    }
  }

  /**
   * Send one command and return the parsed response.
   * @param body the content of <command> without clTRID, e.g. { create: { "domain:create": ... } }
   * @throws EppCommandError for 2xxx results (the session is closed after 25xx);
   *         EppTransportError with ambiguous=true when the command was sent but no response came.
   */
  async command(name: string, body: XmlNode, clTRID: string): Promise<EppResponse> {
    const response = parseResponse(await this.exchange(buildCommand(body, clTRID), this.opts.commandTimeoutMs, name));
    this.lastUsed = Date.now();
    if (response.result.clTRID !== undefined && response.result.clTRID !== clTRID) {
      this.destroy("clTRID mismatch");
      throw new EppTransportError("PV_EPP_PROTOCOL", `${name}: response clTRID ${response.result.clTRID} does not match ${clTRID}`, { ambiguous: true });
    }
    if (closesSession(response.result.code)) this.destroy(`server sent ${response.result.code}`);
    if (!isSuccess(response.result.code)) throw new EppCommandError(response.result, name);
    return response;
  }

  /** Log out (RFC 5730 §2.9.1.2) and close. Never throws. */
  async logout(clTRID: string): Promise<EppResult | undefined> {
    if (this.closed) return undefined;
    try {
      const r = parseResponse(await this.exchange(buildLogout(clTRID), Math.min(this.opts.commandTimeoutMs, 5000), "logout"));
      return r.result;
    } catch {
      return undefined;
    } finally {
      this.destroy("logged out");
    }
  }

  /** Close the connection at once; a command in flight fails as ambiguous. */
  destroy(reason: string): void {
    if (!this.closed) this.closeReason = reason;
    this.closed = true;
    this.socket.destroy();
    this.fail(reason);
  }

  private async exchange(xml: string, timeoutMs: number, what: string): Promise<string> {
    if (this.closed) throw new EppTransportError("PV_EPP_CLOSED", `${what}: session is closed (${this.closeReason})`);
    const wait = this.awaitFrame(timeoutMs, what, true);
    this.socket.write(encodeFrame(xml));
    return wait;
  }

  private awaitFrame(timeoutMs: number, what: string, sent = false): Promise<string> {
    if (this.pending) return Promise.reject(new Error(`EPP session misuse: ${what} while a command is in flight`));
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        this.destroy(`${what} timed out`);
        reject(new EppTransportError("PV_EPP_TIMEOUT", `${what}: no response within ${timeoutMs} ms`, { ambiguous: sent }));
      }, timeoutMs);
      this.pending = {
        resolve,
        reject: (err) =>
          reject(sent && err instanceof EppTransportError ? new EppTransportError(err.code, `${what}: ${err.message}`, { cause: err, ambiguous: true }) : err),
        timer,
      };
    });
  }

  private onData(chunk: Buffer): void {
    let frames: string[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(`protocol error: ${(err as Error).message}`, err, "PV_EPP_FRAME");
      this.destroy("protocol error");
      return;
    }
    for (const frame of frames) {
      const p = this.pending;
      if (!p) {
        this.opts.log.warn("EPP server sent a frame nobody asked for; closing the session");
        this.destroy("unexpected frame");
        return;
      }
      this.pending = undefined;
      clearTimeout(p.timer);
      p.resolve(frame);
    }
  }

  /** Close the session and reject the command in flight with `code` (PV_EPP_CONNECTION or PV_EPP_FRAME). */
  private fail(reason: string, cause?: unknown, code = "PV_EPP_CONNECTION"): void {
    if (!this.closed) {
      this.closed = true;
      this.closeReason = reason;
      this.socket.destroy();
    }
    const p = this.pending;
    if (p) {
      this.pending = undefined;
      clearTimeout(p.timer);
      p.reject(new EppTransportError(code, reason, { cause }));
    }
  }
}
