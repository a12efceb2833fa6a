#!/usr/bin/env python3
"""The compose test's merchant: takes settle-notifier's webhooks and lists them.

POST /settle/webhook records the event with whether its Settle-Signature verifies under the key
in $WEBHOOK_KEY_FILE, and answers 200; GET /events answers every recorded event as JSON.
"""
import hashlib
import hmac
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = open(os.environ["WEBHOOK_KEY_FILE"], "rb").read()
KEY = KEY[:-1] if KEY.endswith(b"\n") else KEY  # As settle-notifier reads it.
events = []


class Merchant(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        timestamp = self.headers.get("Settle-Timestamp", "")
        expected = "v1=" + hmac.new(KEY, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(expected, self.headers.get("Settle-Signature", ""))
        events.append({"event_id": self.headers.get("Settle-Event-Id", ""), "signed": signed,
                       "event": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def do_GET(self):
        body = json.dumps(events).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", 8080), Merchant).serve_forever()
