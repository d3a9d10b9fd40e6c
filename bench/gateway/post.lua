-- wrk: every request is a POST with a JSON body; headers set by run.sh
-- through WRK_BODY / WRK_ENDPOINT.
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"
local endpoint = os.getenv("WRK_ENDPOINT")
if endpoint ~= nil and endpoint ~= "" then
	wrk.headers["Micro-Endpoint"] = endpoint
end
