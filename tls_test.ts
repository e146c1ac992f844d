/**
 * TLS with the runtime's own TLS: a throwaway CA and server certificate made
 * by `openssl` for each run; a client that trusts the CA talks, a client that
 * trusts another CA is refused.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, startServer } from "./mod.ts";

interface Pki {
  caCert: string;
  otherCaCert: string;
  cert: string;
  key: string;
}

/** Makes a CA, a second unrelated CA, and a certificate for localhost/127.0.0.1 signed by the first. */
function makePki(dir: string): Pki {
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  for (const ca of ["ca", "other"]) {
    run(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=hisock test ${ca}`,
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.crt`,
    );
  }
  run(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
  );
  const extensions = join(dir, "ext.cnf");
  execFileSync("sh", [
    "-c",
    `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ${extensions}`,
  ]);
  run(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    extensions,
    "-out",
    "server.crt",
  );
  const read = (name: string) => readFileSync(join(dir, name), "utf8");
  return {
    caCert: read("ca.crt"),
    otherCaCert: read("other.crt"),
    cert: read("server.crt"),
    key: read("server.key"),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

describe("TLS", () => {
  let dir: string;
  let pki: Pki;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "hisock-tls-"));
    pki = makePki(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("a client that trusts the CA exchanges commands over TLS", async () => {
    const server = await startServer(["127.0.0.1", 0], { tls: { cert: pki.cert, key: pki.key } });
    try {
      const joined = new Promise<string | null>((resolve) =>
        server.on("join", (c) => resolve(c.name))
      );
      server.on(
        "echo",
        "str",
        (client, text) => server.sendClient(client, "echo", text.toUpperCase()),
      );
      const client = await connect(server.getAddr(), {
        name: "secure",
        tls: { caCerts: [pki.caCert], hostname: "localhost" },
      });
      const reply = new Promise<string>((resolve) => client.on("echo", "str", resolve));
      client.send("echo", "über tls");
      assert.equal(await withTimeout(joined, 5000, "join"), "secure");
      assert.equal(await withTimeout(reply, 5000, "reply"), "ÜBER TLS");
      const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i * 7);
      const received = new Promise<Uint8Array>((resolve) =>
        server.on("big", (_, bytes) => resolve(bytes))
      );
      client.send("big", big);
      assert.deepEqual(await withTimeout(received, 10_000, "big"), big);
      await client.close();
    } finally {
      await server.close();
    }
  });

  test("a client that does not trust the server's certificate is refused", async () => {
    const server = await startServer(["127.0.0.1", 0], { tls: { cert: pki.cert, key: pki.key } });
    let joins = 0;
    server.on("join", () => joins++);
    server.on("error", () => {});
    try {
      await assert.rejects(
        withTimeout(
          connect(server.getAddr(), {
            name: "trusting-the-wrong-ca",
            tls: { caCerts: [pki.otherCaCert], hostname: "localhost" },
          }).then((client) => client.close()),
          5000,
          "wrong CA",
        ),
        (error: Error) => {
          // Refused for the certificate, not for some other reason.
          assert.match(String(error?.message ?? error), /certificate|issuer|verif|handshake/i);
          return true;
        },
      );
      // A plain-TCP client cannot talk to a TLS server either: it never joins.
      const plain = await connect(server.getAddr(), { name: "plain" });
      await withTimeout(plain.closed, 5000, "plain client dropped").catch(() => plain.close());
      assert.equal(joins, 0);
    } finally {
      await server.close();
    }
  });
});
