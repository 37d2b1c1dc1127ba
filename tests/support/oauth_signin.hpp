#pragma once
// Headless sign-in at the reference authorization server (@atproto/oauth-provider in the testnet PDS):
// the four requests of atproto-testnet/README.md "Headless, for the integration test", as a browser
// sends them, with libcurl directly (test code: no SSRF client, no dependency on plyr's server).
//
//   1. GET <authorize URL>  (Sec-Fetch-Mode navigate / Dest document / Site cross-site)
//        → 200 HTML + cookies dev-id, ses-id, csrf-token
//   2. POST <origin>/@atproto/oauth-provider/~api/sign-in  {"locale","username","password","remember"}
//        (Origin, Referer = authorize URL, Sec-Fetch-* same-origin/empty, X-CSRF-Token, Cookie)
//        → {"account":{"did",…},"ephemeralToken"}
//   3. POST …/~api/consent {"did"} with Authorization: Bearer <ephemeralToken>
//      (or, with SignInOptions::deny, POST …/~api/reject {} — the page's "deny" button)
//        → {"url": "<origin>/oauth/authorize/redirect?…"}
//   4. GET that url (navigate, same-origin, Referer, Cookie) → 303 Location: redirect_uri?state&iss&code
//      (deny: …?state&iss&error=access_denied&error_description=…)
//
// Contract
// - Returns step 4's Location WITHOUT following it (the caller delivers it to its own callback).
// - Cookies: a minimal jar (name → value; Max-Age=0 or an empty value deletes). The provider marks them
//   Secure although the issuer is http://localhost:<port>; like a browser on localhost we send them back
//   anyway. Use the issuer's host name throughout (the cookie domain is that host).
// - Errors: kUnavailable for transport failures, kProtocol for an unexpected status/body at any step
//   (detail names the step, the status and a snippet of the body: a wrong password shows up here).
// - Thread-safety: a call uses its own curl handles; a shared SignInCookieJar must not be used by two calls
//   at once.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace plyr::testing {

class SignInCookieJar {
  public:
    // One Set-Cookie header value.
    void Update(std::string_view set_cookie);
    std::optional<std::string> Get(std::string_view name) const;
    std::string Header() const;  // "a=1; b=2"
    bool empty() const { return cookies_.empty(); }

  private:
    std::map<std::string, std::string, std::less<>> cookies_;
};

struct SignInOptions {
    bool deny = false;               // reject the request (access_denied) instead of consenting, after signing in
    bool remember = false;           // "remember me" on the sign-in form (a persistent AS session for this device)
    SignInCookieJar* jar = nullptr;  // reuse the AS's cookies across calls (same "device"); null = fresh jar
    long timeout_ms = 15'000;        // per request
};

Result<std::string> SignInAndConsent(std::string_view authorize_url, std::string_view username,
                                     std::string_view password, SignInOptions options = {});

// The query of a callback URL, percent- and '+'-decoded (state, iss, code, error, error_description, …).
// kInvalidArgument when it is not an absolute URL.
Result<std::map<std::string, std::string>> CallbackParams(std::string_view callback_url);

}  // namespace plyr::testing
