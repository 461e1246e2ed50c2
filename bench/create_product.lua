-- POST /api/v1/products with a SKU no other request uses.
local counter = 0
local thread_tag = tostring(math.random(1, 1e9))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
    counter = counter + 1
    local body = string.format(
        '{"name": "Bench item %d", "sku": "B-%s-%d", "price_minor": 1999, "currency": "EUR"}',
        counter, thread_tag, counter)
    return wrk.format(nil, nil, nil, body)
end
