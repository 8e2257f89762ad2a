package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func init() {
	packageOf["nginx"] = "nginx"
	packageOf["apache2"] = "apache2-bin"
}

// The environment variables a server must pass on to its worker processes for libp11 and libkeyward.so to
// work there: the OpenSSL configuration that loads the engine, the daemon's socket, and the spy's.
var serverEnvVars = []string{"OPENSSL_CONF", "KEYWARD_SOCKET", "KEYWARD_AUTOSTART", "PKCS11SPY", "PKCS11SPY_OUTPUT", "HOME"}

// webCheck fetches https://localhost:port/ with curl, trusting only cert, and checks the page.
func webCheck(t *testing.T, srv *server, port int, cert, want string) {
	t.Helper()
	curl := program(t, "curl")
	p := strconv.Itoa(port)
	r := execProg(t, runOpts{}, curl, "--silent", "--show-error", "--fail", "--max-time", "20", "--verbose",
		"--resolve", "localhost:"+p+":127.0.0.1", "--cacert", cert, "https://localhost:"+p+"/")
	if r.err != nil || !strings.Contains(r.stdout, want) {
		t.Fatalf("curl against the server with the token key: want a page with %q\n%s\n--- server log:\n%s", want, r, srv.output())
	}
	mustContain(t, r, r.stderr, "SSL certificate verify ok")
}

// Scenario 7 (web servers): nginx and Apache httpd (mod_ssl) serve HTTPS on 127.0.0.1 with the private key in
// the token, and curl fetches a page, verifying the server's certificate (self-signed with the token key).
//
// Both are built with OpenSSL 3.0 in Debian 12 and reach the token through libp11's pkcs11 engine, loaded by an
// OpenSSL configuration (OPENSSL_CONF):
//   - nginx: `ssl_certificate_key "engine:pkcs11:pkcs11:token=..;object=..;type=private?pin-value=..";`
//     (nginx 1.22 has no OSSL_STORE/provider key loading; "engine:<id>:<key id>" is its only way). nginx clears
//     its workers' environment, so the configuration keeps OPENSSL_CONF and KEYWARD_SOCKET with `env`; the key
//     is loaded in the master and used by the forked worker (libp11 reinitialises the module after fork).
//   - Apache httpd 2.4: `SSLCryptoDevice pkcs11` and `SSLCertificateKeyFile "pkcs11:..."` (a pkcs11: URI is
//     handed to the engine since 2.4.42), run in the foreground as one process (-X) with a ServerRoot of its own.
//
// RSA and EC keys; a server run by root keeps its workers as root (nginx `user root`) so that they can reach the
// private daemon's socket.
func TestWebServers(t *testing.T) {
	const sc = "7 web servers"
	daemon(t)
	tk := newToken(t, "websrv")
	tk.addUnusualKeys(t) // a mixed token
	keys := []struct{ label, id, kind, keyType string }{
		{"web-rsa", "71", "RSA", "rsa:2048"},
		{"web-ec", "72", "EC", "EC:prime256v1"},
	}
	dir := tmpDir(t)
	certs := map[string]string{}
	for _, k := range keys {
		tk.genKey(t, k.keyType, k.label, k.id)
		certs[k.label], _ = tk.tokenCert(t, dir, k.label, "localhost")
	}
	mod, spyEnv := moduleFor(t, "webservers")
	env := append([]string{"OPENSSL_CONF=" + opensslEngineConf(t, dir, mod)}, spyEnv...)
	// nginx loads "engine:" keys without initialising the engine (ENGINE_by_id, then ENGINE_load_private_key), so
	// its configuration initialises it when OpenSSL reads the configuration (init = 1).
	initConf := filepath.Join(dir, "openssl-init.cnf")
	writeFile(t, dir, "openssl-init.cnf", []byte(strings.Replace(string(readFile(t, filepath.Join(dir, "openssl.cnf"))), "init = 0", "init = 1", 1)), 0o644)
	nginxEnv := append([]string{"OPENSSL_CONF=" + initConf}, spyEnv...)
	withEngine := func() string {
		if e := debVersion("libengine-pkcs11-openssl"); e != "" {
			return " + libp11 " + e
		}
		return ""
	}

	step(t, sc, "nginx ssl_certificate_key engine:pkcs11:<URI>, curl (RSA, EC)", "nginx",
		func() string { return progVersion("nginx") + withEngine() }, func(t *testing.T) {
			nginx := program(t, "nginx")
			for _, k := range keys {
				t.Run(k.kind, func(t *testing.T) {
					prefix := tmpDir(t)
					port := freePort(t)
					var b strings.Builder
					fmt.Fprintf(&b, "# keyward interop test: nginx on loopback with the private key in a token\n")
					fmt.Fprintf(&b, "daemon off;\nmaster_process on;\nworker_processes 1;\npid %s/nginx.pid;\n", prefix)
					fmt.Fprintf(&b, "error_log stderr info;\n")
					if os.Geteuid() == 0 {
						b.WriteString("user root root;\n")
					}
					for _, v := range serverEnvVars {
						fmt.Fprintf(&b, "env %s;\n", v)
					}
					fmt.Fprintf(&b, `events { worker_connections 64; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen 127.0.0.1:%[2]d ssl;
        server_name localhost;
        ssl_certificate %[3]s;
        ssl_certificate_key "engine:pkcs11:%[4]s";
        location / {
            default_type text/plain;
            return 200 "keyward nginx page %[5]s\n";
        }
    }
}
`, prefix, port, certs[k.label], tk.uriPIN(k.label), k.kind)
					conf := writeFile(t, prefix, "nginx.conf", []byte(b.String()), 0o644)
					if r := execProg(t, runOpts{env: nginxEnv}, nginx, "-t", "-p", prefix, "-e", "stderr", "-c", conf); r.err != nil {
						t.Fatalf("nginx -t rejects the configuration with the token key:\n%s", r)
					}
					srv := startServer(t, nginxEnv, nginx, "-p", prefix, "-e", "stderr", "-c", conf)
					srv.waitTCP(t, port)
					webCheck(t, srv, port, certs[k.label], "keyward nginx page "+k.kind)
					srv.stop()
				})
			}
		})

	step(t, sc, "Apache httpd mod_ssl SSLCryptoDevice pkcs11 + pkcs11: URI, curl (RSA, EC)", "apache2",
		func() string { return progVersion("apache2") + withEngine() }, func(t *testing.T) {
			httpd := program(t, "apache2")
			modDir := filepath.Dir(systemFile(t, "Apache mod_ssl", "apache2-bin", "/usr/lib/apache2/modules/mod_ssl.so"))
			for _, k := range keys {
				t.Run(k.kind, func(t *testing.T) {
					root := tmpDir(t)
					port := freePort(t)
					docs := filepath.Join(root, "htdocs")
					os.MkdirAll(docs, 0o755)
					writeFile(t, docs, "index.html", []byte("keyward apache page "+k.kind+"\n"), 0o644)
					var b strings.Builder
					fmt.Fprintf(&b, "# keyward interop test: Apache httpd on loopback with the private key in a token\n")
					fmt.Fprintf(&b, "ServerRoot %s\nServerName localhost\nPidFile %s/httpd.pid\nListen 127.0.0.1:%d\n", root, root, port)
					for _, m := range []string{"mpm_event", "authz_core", "dir", "socache_shmcb", "ssl"} {
						fmt.Fprintf(&b, "LoadModule %s_module %s/mod_%s.so\n", m, modDir, m)
					}
					fmt.Fprintf(&b, `ErrorLog /dev/stderr
LogLevel info ssl:debug
Mutex file:%[1]s default
DefaultRuntimeDir %[1]s
DocumentRoot %[2]s
<Directory %[2]s>
    Require all granted
</Directory>
DirectoryIndex index.html
SSLCryptoDevice pkcs11
SSLSessionCache none
<VirtualHost 127.0.0.1:%[3]d>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile %[4]s
    SSLCertificateKeyFile "%[5]s"
</VirtualHost>
`, root, docs, port, certs[k.label], tk.uriPIN(k.label))
					conf := writeFile(t, root, "httpd.conf", []byte(b.String()), 0o644)
					if r := execProg(t, runOpts{env: env}, httpd, "-t", "-f", conf); r.err != nil {
						t.Fatalf("apache2 -t rejects the configuration with the token key:\n%s", r)
					}
					srv := startServer(t, env, httpd, "-X", "-f", conf)
					srv.waitTCP(t, port)
					webCheck(t, srv, port, certs[k.label], "keyward apache page "+k.kind)
					srv.stop()
				})
			}
		})
}
