-- POST /api/v1/products with a SKU no other request uses, in any thread or run. With a file of
-- "slug token" lines (`wrk ... -s bench/create_product.lua <url> -- <file>`), the requests go
-- to those tenants in turn, each with its own token; without one, to the command line's tenant.
-- Each thread's tag is set here, in wrk's main state: an unseeded math.random gives every
-- thread the same number, and the threads' SKUs then collided (half the creates were 409s).
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("thread_tag", string.format("%d-%d", os.time(), threads))
end
local tenants = {}
function init(args)
    if args[1] then
        for line in io.lines(args[1]) do
            local slug, token = line:match("^(%S+) (%S+)$")
            if slug then tenants[#tenants + 1] = { slug, "Bearer " .. token } end
        end
    end
end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
    counter = counter + 1
    if #tenants > 0 then
        local t = tenants[counter % #tenants + 1]
        wrk.headers["X-Tenant-ID"] = t[1]
        wrk.headers["Authorization"] = t[2]
    end
    local body = string.format(
        '{"name": "Bench item %d", "sku": "B-%s-%d", "price_minor": 1999, "currency": "EUR"}',
        counter, thread_tag, counter)
    return wrk.format(nil, nil, nil, body)
end
