DROP POLICY member_roles ON roles;
DROP POLICY member_self ON memberships;
