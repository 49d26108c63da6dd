/** A self-signed TLS certificate for the simulator, made at start with the selfsigned package. */
import { generate } from "selfsigned";

export interface SimulatorCertificate {
  /** PEM certificate; clients trust it as their CA */
  cert: string;
  /** PEM private key */
  key: string;
}

/** Generate a certificate for CN=localhost with SANs localhost, 127.0.0.1 and ::1, valid 30 days. */
export async function makeCertificate(): Promise<SimulatorCertificate> {
  const pems = await generate([{ name: "commonName", value: "localhost" }], {
    keySize: 2048,
    days: 30,
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  } as Parameters<typeof generate>[1]);
  return { cert: pems.cert, key: pems.private };
}
