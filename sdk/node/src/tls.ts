// gRPC credentials from PEM files, as the C++ binaries' --tls_cert/--tls_key/--tls_ca/
// --tls_client_auth flags take them (common/credentials.h). Files are read once, at start.

import * as fs from "node:fs";

import * as grpc from "@grpc/grpc-js";

export interface TlsFiles {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsClientAuth?: boolean;
}

/** TLS for a server with tlsCert and tlsKey; with tlsClientAuth, clients must present a
 * certificate tlsCa signs. Undefined (plaintext) when no certificate is given. */
export function serverCredentials(tls: TlsFiles): grpc.ServerCredentials | undefined {
  if (!tls.tlsCert) {
    if (tls.tlsKey || tls.tlsClientAuth) throw new Error("tlsKey and tlsClientAuth need tlsCert");
    return undefined;
  }
  if (!tls.tlsKey) throw new Error("tlsCert needs tlsKey");
  if (tls.tlsClientAuth && !tls.tlsCa) {
    throw new Error("tlsClientAuth needs tlsCa, the CA that signs client certificates");
  }
  return grpc.ServerCredentials.createSsl(
    tls.tlsCa ? fs.readFileSync(tls.tlsCa) : null,
    [{ private_key: fs.readFileSync(tls.tlsKey), cert_chain: fs.readFileSync(tls.tlsCert) }],
    Boolean(tls.tlsClientAuth),
  );
}

/** TLS to a server tlsCa signs, presenting tlsCert when given (mutual TLS). Undefined
 * (plaintext) when no CA is given. */
export function channelCredentials(tls: TlsFiles): grpc.ChannelCredentials | undefined {
  if (!tls.tlsCa) return undefined;
  return grpc.credentials.createSsl(
    fs.readFileSync(tls.tlsCa),
    tls.tlsCert && tls.tlsKey ? fs.readFileSync(tls.tlsKey) : null,
    tls.tlsCert && tls.tlsKey ? fs.readFileSync(tls.tlsCert) : null,
  );
}
