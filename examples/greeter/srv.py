#!/usr/bin/python3
"""go.micro.srv.greeter in Python, standard library only.

Say.Hello {"name":"John"} -> {"msg":"Hello John"} over mucp (POST / with
the raw JSON body and the endpoint in the Micro-Endpoint header). The
service registers itself through a microd sidecar (POST /registry with a
TTL), renews the registration periodically, and deregisters on exit.

usage: srv.py [--listen HOST:PORT] [--sidecar HOST:PORT]
"""
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from greeter_sidecar import Handler, loads, serve

NAME = "go.micro.srv.greeter"


def say_hello(req):
    name = req.get("name") if isinstance(req, dict) else None
    if not name:
        raise ValueError("name required")
    return {"msg": "Hello " + name}


def health(req):
    return {"status": "ok"}


ENDPOINTS = {"Say.Hello": say_hello, "Debug.Health": health}


class SrvHandler(Handler):
    def do_POST(self):
        raw = self.body()
        fn = ENDPOINTS.get(self.headers.get("Micro-Endpoint", ""))
        if fn is None:
            self.reply_error(404, NAME, "unknown endpoint")
            return
        try:
            self.reply(200, fn(loads(raw or b"{}")))
        except ValueError as e:
            self.reply_error(400, NAME, str(e))


def service(address):
    return {
        "name": NAME, "version": "latest",
        "endpoints": [{"name": "Say.Hello",
                       "request": {"name": "Request", "type": "Request",
                                   "values": [{"name": "name",
                                               "type": "string"}]},
                       "response": {"name": "Response", "type": "Response",
                                    "values": [{"name": "msg",
                                                "type": "string"}]}}],
        "nodes": [{"id": "%s-py-%s" % (NAME, address), "address": address,
                   "metadata": {"protocol": "mucp", "server": "python"}}],
    }


def main():
    serve(SrvHandler, service)


if __name__ == "__main__":
    main()
