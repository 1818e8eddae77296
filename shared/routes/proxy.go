package routes

import (
	"net/http"
	"net/http/httputil"
	"net/url"

	"function/shared/problem"
)

// Proxy routes each request by Table to the function's address (host:port).
// It is the local stand-in for infra/'s HTTP route.
func Proxy(addrs map[string]string) http.Handler {
	proxies := map[string]http.Handler{}
	for fn, addr := range addrs {
		proxies[fn] = httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn := Lookup(r.URL.Path)
		p, ok := proxies[fn]
		switch {
		case fn == "":
			problem.Write(w, http.StatusNotFound, "no function serves "+r.URL.Path)
		case !ok:
			problem.Write(w, http.StatusBadGateway, "function "+fn+" is not running")
		default:
			p.ServeHTTP(w, r)
		}
	})
}
