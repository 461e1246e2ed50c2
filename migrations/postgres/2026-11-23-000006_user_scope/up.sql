-- The tenant switcher reads one person's memberships in every tenant. Inside a transaction
-- that sets app.user_id (and no tenant), these policies show exactly that person's
-- memberships and the roles they hold; nothing else of any tenant.
CREATE POLICY member_self ON memberships FOR SELECT
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

CREATE POLICY member_roles ON roles FOR SELECT
    USING (EXISTS (
        SELECT 1 FROM memberships m
        WHERE m.tenant_id = roles.tenant_id
          AND m.role_id = roles.id
          AND m.user_id = NULLIF(current_setting('app.user_id', true), '')::uuid
    ));
