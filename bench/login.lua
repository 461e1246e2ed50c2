-- POST /api/v1/auth/login with the bench user's credentials.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email": "bench@acme.test", "password": "correct horse battery"}'
