-- GET /api/v1/products?limit=20 for a tenant picked at random per request, each with its own
-- token: `wrk ... -s bench/spread.lua <url> -- <file of "slug token" lines>`.
local tenants = {}
function init(args)
    for line in io.lines(args[1]) do
        local slug, token = line:match("^(%S+) (%S+)$")
        if slug then tenants[#tenants + 1] = { slug, "Bearer " .. token } end
    end
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
function request()
    local t = tenants[math.random(#tenants)]
    wrk.headers["X-Tenant-ID"] = t[1]
    wrk.headers["Authorization"] = t[2]
    return wrk.format("GET", "/api/v1/products?limit=20")
end
