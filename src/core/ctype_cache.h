#pragma once
// libstdc++'s std::ctype<char>::narrow fills a cache inside the shared
// locale facet the first time it narrows each character: a write that races
// when two threads compile their first std::regex at once (GCC PR 77704),
// which cpp-httplib's client and connection threads do (each compiles its
// own thread_local regex for status and request lines; TSan reported it in
// `bench serve`'s workers). Narrowing every character once, before such
// threads start, leaves them only reads, except for '\0', whose result 0
// is the cache's "not yet" mark (no pattern httplib compiles holds one).
namespace strata {

void prime_ctype_narrow_cache();

}  // namespace strata
