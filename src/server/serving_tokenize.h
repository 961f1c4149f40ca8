#pragma once
// POST /tokenize and /detokenize (vLLM's): a prompt or chat messages to
// token ids, and token ids back to text.
namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace strata {

struct ServingContext;

// Throw ApiError for a request that cannot be served.
void serve_tokenize(ServingContext& ctx, const httplib::Request& req, httplib::Response& res);
void serve_detokenize(ServingContext& ctx, const httplib::Request& req, httplib::Response& res);

}  // namespace strata
