#!/usr/bin/python3
"""go.micro.api.greeter in Python, standard library only (api.c's twin).

micro's api handler turns GET /greeter/say/hello?name=John into a mucp
call (POST / with the api.Request JSON as body, Micro-Endpoint: Say.Hello);
this service calls go.micro.srv.greeter Say.Hello {"name":"John"} through
the sidecar's POST /rpc and answers an api.Response whose statusCode is
the sidecar's status and whose body is its reply, {"msg":"Hello John"}.
It registers itself through the sidecar (POST /registry with a TTL),
renews the registration periodically, and deregisters on exit.

usage: api.py [--listen HOST:PORT] [--sidecar HOST:PORT]
"""
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from greeter_sidecar import CallError, Handler, call, loads, serve

NAME = "go.micro.api.greeter"
SRV = "go.micro.srv.greeter"

PAIR = "map[string]Pair"    # api.Pair {key, values}


def value(name, type):
    return {"name": name, "type": type}


def query_name(req):
    """get.name.values[0] of the api.Request, or None."""
    for key in ("get", "name", "values"):
        req = req.get(key) if isinstance(req, dict) else None
    v = req[0] if isinstance(req, list) and req else None
    return v if isinstance(v, str) else None


def api_response(status, body):
    return {"statusCode": status,
            "header": {"Content-Type": {"key": "Content-Type",
                                        "values": ["application/json"]}},
            "body": body}


class ApiHandler(Handler):
    def do_POST(self):
        try:
            req = loads(self.body())
        except ValueError:
            self.reply_error(400, NAME, "not an api.Request")
            return
        if self.headers.get("Micro-Endpoint") != "Say.Hello":
            self.reply_error(404, NAME, "unknown endpoint")
            return
        name = query_name(req)
        if name is None:
            self.reply_error(400, NAME, "Name cannot be blank")
            return
        try:
            status, body = call(self.server.sidecar, SRV, "Say.Hello",
                                {"name": name})
        except CallError as e:
            self.reply_error(502, NAME, str(e))
            return
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            self.reply_error(502, NAME, "srv reply is not text")
            return
        self.reply(200, api_response(status, text))


def service(address):
    return {
        "name": NAME, "version": "latest",
        "endpoints": [{"name": "Say.Hello",
                       "request": {"name": "Request", "type": "Request",
                                   "values": [value("method", "string"),
                                              value("path", "string"),
                                              value("header", PAIR),
                                              value("get", PAIR),
                                              value("post", PAIR),
                                              value("body", "string"),
                                              value("url", "string")]},
                       "response": {"name": "Response", "type": "Response",
                                    "values": [value("statusCode", "int32"),
                                               value("header", PAIR),
                                               value("body", "string")]}}],
        "nodes": [{"id": "%s-py-%s" % (NAME, address), "address": address,
                   "metadata": {"protocol": "mucp", "server": "python"}}],
    }


def main():
    serve(ApiHandler, service)


if __name__ == "__main__":
    main()
