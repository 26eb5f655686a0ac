-- Issue 20: "Forgot your password?" with email on. Every request is counted,
-- whether or not an account has the email, so that the throttle (per email
-- and per IP, over an hour) answers the same for both.
CREATE TABLE password_reset_requests (
    id    BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    ip    TEXT NOT NULL,
    at    BIGINT NOT NULL
);
CREATE INDEX password_reset_requests_by_email ON password_reset_requests (email, at);
CREATE INDEX password_reset_requests_by_ip ON password_reset_requests (ip, at);
