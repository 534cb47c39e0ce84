// Origin offload for statuslist: nginx answers token GETs from the files the service writes to
// its offload_dir (python/statuslist/web/offload.py), with the service's own decisions.
//
// The rules below are python/statuslist/web/negotiation.py and the token GET of
// python/statuslist/web/public.py, line for line: RFC 9110 negotiation on Accept and
// Accept-Encoding, If-None-Match (weak comparison) before If-Modified-Since (HTTP-date, exact
// grammar), max-age never past exp, no 304 for an If-Modified-Since of a second that saw two
// tokens. tests/deploy/test_offload.py sends the same generated headers to the service and to
// nginx running this file and requires the same answers.
//
// njs decides; nginx's static module sends the bytes (sendfile). Whatever this file does not
// answer itself -- an unknown or expired list, a query string, 406, If-Match or
// If-Unmodified-Since, another method, a layout it does not know -- goes to the service (location @statuslist), which then decides.
//
// Written for njs 0.7 (Debian 12's libnginx-mod-http-js): var, no destructuring. Every request
// runs in a fresh VM (no state survives it), so the common header values have fast paths.

var fs = require('fs');

// Module-level state is cloned into the VM of every request (njs 0.7): only strings here.
var LAYOUT = '1';
var CORS_ORIGIN = '*';
var CORS_EXPOSE = 'ETag, Last-Modified, Cache-Control, Content-Encoding';
var VARY = 'Accept, Accept-Encoding';

function ows(s) {
    return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

function lower(s) {  // ASCII letters only, as Python's negotiation.ascii_lower
    if (/^[\x00-\x7f]*$/.test(s)) {
        return s.toLowerCase();
    }
    return s.replace(/[A-Z]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) + 32); });
}

function split2(s, sep) {  // Python's str.partition, without the separator
    var at = s.indexOf(sep);
    return at < 0 ? [s, '', false] : [s.slice(0, at), s.slice(at + sep.length), true];
}

function parseQ(value) {
    value = ows(value);
    if (!/^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$/.test(value)) {
        return null;
    }
    return parseFloat(value);
}

function ranges(header) {
    var out = [];
    var parts = header.split(',');
    for (var i = 0; i < parts.length; i++) {
        var part = ows(parts[i]);
        if (!part) {
            continue;
        }
        var pieces = part.split(';').map(ows);
        var media = split2(lower(pieces[0]), '/');
        var mtype = media[0], subtype = media[1];
        if (!media[2] || !mtype || !subtype || (mtype === '*' && subtype !== '*')) {
            continue;
        }
        var params = false, q = 1.0;
        for (var j = 1; j < pieces.length; j++) {
            var nv = split2(pieces[j], '=');
            var name = lower(ows(nv[0]));
            var val = ows(nv[1]).replace(/^"+|"+$/g, '');
            if (name === 'q') {
                var parsed = parseQ(val);
                q = parsed === null ? 0.0 : parsed;
                break;
            }
            if (name) {
                params = true;
            }
        }
        out.push([mtype, subtype, params, q]);
    }
    return out;
}

function chooseMediaType(accept, offered) {
    if (accept === null || !ows(accept)) {
        return offered.length ? offered[0] : null;
    }
    var rs = ranges(accept);
    if (!rs.length) {
        return offered.length ? offered[0] : null;
    }
    var bestQ = -1, chosen = null;
    for (var pos = 0; pos < offered.length; pos++) {
        var media = split2(offered[pos], '/');
        var q = null, specificity = -1;
        for (var i = 0; i < rs.length; i++) {
            var r = rs[i], s;
            if (r[2]) {
                continue;
            }
            if (r[0] === media[0] && r[1] === media[1]) {
                s = 2;
            } else if (r[0] === media[0] && r[1] === '*') {
                s = 1;
            } else if (r[0] === '*') {
                s = 0;
            } else {
                continue;
            }
            if (s > specificity) {
                specificity = s;
                q = r[3];
            }
        }
        if (q === null || q <= 0) {
            continue;
        }
        if (chosen === null || q > bestQ) {  // ties go to the server's order
            bestQ = q;
            chosen = offered[pos];
        }
    }
    return chosen;
}

function acceptsGzip(header) {
    if (!header) {
        return false;
    }
    var explicit = null, star = null;
    var parts = header.split(',');
    for (var i = 0; i < parts.length; i++) {
        var cr = split2(ows(parts[i]), ';');
        var coding = lower(ows(cr[0]));
        var q = 1.0;
        var nv = split2(cr[1], '=');
        if (lower(ows(nv[0])) === 'q') {
            var parsed = parseQ(nv[1]);
            q = parsed === null ? 0.0 : parsed;
        }
        if (coding === 'gzip' || coding === 'x-gzip') {
            explicit = explicit === null ? q : Math.max(explicit, q);
        } else if (coding === '*') {
            star = q;
        }
    }
    if (explicit !== null) {
        return explicit > 0;
    }
    return star !== null && star > 0;
}

function unW(tag) {
    return tag.indexOf('W/') === 0 ? tag.slice(2) : tag;
}

function etagMatches(inm, etag) {
    if (ows(inm) === '*') {
        return true;
    }
    var target = unW(etag);
    var tags = inm.split(',');
    for (var i = 0; i < tags.length; i++) {
        if (unW(ows(tags[i])) === target) {
            return true;
        }
    }
    return false;
}

var MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';

function daysFromCivil(y, m, d) {
    y -= m <= 2 ? 1 : 0;
    var era = Math.floor((y >= 0 ? y : y - 399) / 400);
    var yoe = y - era * 400;
    var doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
    var doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
    return era * 146097 + doe - 719468;
}

function monthDays(y, m) {
    if (m === 2) {
        return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
    }
    return (m === 4 || m === 6 || m === 9 || m === 11) ? 30 : 31;
}

function httpDate(value, now) {  // regular expressions built here: top-level state costs
    value = ows(value);                 // every request (njs clones it into a VM per request)
    var mon3 = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
    var time = '([0-9]{2}):([0-9]{2}):([0-9]{2})';
    var IMF = new RegExp('^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) ' + mon3 + ' ([0-9]{4}) '
                         + time + ' GMT$');
    var RFC850 = new RegExp('^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), '
                            + '([0-9]{2})-' + mon3 + '-([0-9]{2}) ' + time + ' GMT$');
    var ASCTIME = new RegExp('^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ' + mon3 + ' ([ 0-9][0-9]) '
                             + time + ' ([0-9]{4})$');
    var m, day, mon, y, hh, mm, ss;
    if ((m = IMF.exec(value)) !== null) {
        day = m[1]; mon = m[2]; y = parseInt(m[3], 10); hh = m[4]; mm = m[5]; ss = m[6];
    } else if ((m = RFC850.exec(value)) !== null) {
        day = m[1]; mon = m[2]; hh = m[4]; mm = m[5]; ss = m[6];
        var thisYear = new Date(now * 1000).getUTCFullYear();
        y = thisYear - thisYear % 100 + parseInt(m[3], 10);
        if (y > thisYear + 50) {
            y -= 100;
        }
    } else if ((m = ASCTIME.exec(value)) !== null) {
        mon = m[1]; day = m[2]; hh = m[3]; mm = m[4]; ss = m[5]; y = parseInt(m[6], 10);
    } else {
        return null;
    }
    var month = MONTHS.indexOf(mon) / 3 + 1;
    var d = parseInt(ows(day), 10), h = parseInt(hh, 10), mi = parseInt(mm, 10), s = parseInt(ss, 10);
    if (!(1 <= d && d <= monthDays(y, month) && h <= 23 && mi <= 59 && s <= 59)) {
        return null;
    }
    return daysFromCivil(y, month, d) * 86400 + h * 3600 + mi * 60 + s;
}

// The common header values, answered without parsing. Each answer is the general rule's for
// that exact value (tests/deploy/test_offload.py sends these and their variants to both sides).
function negotiate(accept, offered) {
    if (accept === undefined) {
        return offered[0];
    }
    if (accept === '*/*') {
        return offered[0];
    }
    if (accept === 'application/statuslist+jwt' || accept === 'application/statuslist+cwt') {
        return offered.indexOf(accept) >= 0 ? accept : null;
    }
    return chooseMediaType(accept, offered);
}

function gzipOk(header) {
    if (header === undefined) {
        return false;
    }
    switch (header) {
    case 'gzip':
    case 'gzip, deflate':
    case 'gzip, deflate, br':
    case 'gzip, deflate, br, zstd':
    case 'br, gzip':
    case 'deflate, gzip':
        return true;
    }
    return acceptsGzip(header);
}

// nginx gives a header sent on several lines as one value joined by ",": the same list items as
// the service's ", " join, once OWS is stripped. (nginx refuses a second If-Modified-Since line,
// and before 1.23 a second If-None-Match line, with 400 before this runs.)
function notModified(r, meta, etag, now) {
    var inm = r.headersIn['If-None-Match'];
    if (inm !== undefined) {
        return inm === etag || etagMatches(inm, etag);
    }
    var ims = r.headersIn['If-Modified-Since'];
    if (ims !== undefined) {
        var since = ims === meta.lastModified ? meta.iat : httpDate(ims, now);
        if (since === null) {
            return false;
        }
        if (meta.sameSecond && since === meta.iat) {
            return false;
        }
        return meta.iat <= since;
    }
    return false;
}

// lists/<id>.meta, written by python/statuslist/web/offload.py: one line
//   <layout> <iat> <exp> <ttl> <same second 0|1> <jwt tag|-> <gzip'd jwt tag|-> <cwt tag|->
// then the Last-Modified value on a second line.
function readMeta(r, id) {
    var text;
    try {
        text = fs.readFileSync(r.variables.statuslist_offload + '/lists/' + id + '.meta', 'utf8');
    } catch (e) {
        return null;  // not written (yet)
    }
    var nl = text.indexOf('\n');
    var f = text.slice(0, nl).split(' ');
    if (f.length !== 8 || f[0] !== LAYOUT) {
        return null;
    }
    var offered = [];
    if (f[5] !== '-') {
        offered.push('application/statuslist+jwt');
    }
    if (f[7] !== '-') {
        offered.push('application/statuslist+cwt');
    }
    return {iat: +f[1], exp: +f[2], ttl: +f[3], sameSecond: f[4] === '1', offered: offered,
            jwt: f[5], gzip: f[6], cwt: f[7],
            lastModified: text.slice(nl + 1, text.length - 1)};
}

function serve(r) {
    var id = r.variables.statuslist_id;
    if ((r.method !== 'GET' && r.method !== 'HEAD') || r.variables.args) {
        r.internalRedirect('@statuslist');
        return;
    }
    var hin = r.headersIn;
    if (hin['If-Match'] !== undefined || hin['If-Unmodified-Since'] !== undefined) {
        // Rare on a token GET; nginx's own precondition checks would compare them with the
        // static module's validators, not ours: the service decides (412 or the token).
        r.internalRedirect('@statuslist');
        return;
    }
    var meta = readMeta(r, id);
    var now = Date.now() / 1000;
    if (meta === null || meta.exp <= now) {
        r.internalRedirect('@statuslist');  // unknown here, or expired: the service decides
        return;
    }
    var media = negotiate(r.headersIn['Accept'], meta.offered);
    if (media === null) {
        r.internalRedirect('@statuslist');  // 406 with the service's problem body
        return;
    }
    var tag, file;  // the representation, and its file under the location of its media type
    if (media === 'application/statuslist+cwt') {
        tag = meta.cwt;
        file = '/_statuslist/cwt/tokens/' + id + '/' + tag + '.cwt';
    } else if (gzipOk(r.headersIn['Accept-Encoding'])) {
        tag = meta.gzip;
        file = '/_statuslist/jwt-gzip/tokens/' + id + '/' + tag + '.jwt.gz';
    } else {
        tag = meta.jwt;
        file = '/_statuslist/jwt/tokens/' + id + '/' + tag + '.jwt';
    }
    var etag = '"' + tag + '"';
    var left = Math.trunc(meta.exp - now);
    var maxAge = left >= meta.ttl ? Math.max(0, meta.ttl) : Math.max(0, left);
    var v = r.variables;  // js_var: read by add_header in the internal locations as well
    v.statuslist_cache_control = 'public, max-age=' + maxAge;
    v.statuslist_etag = etag;
    if (notModified(r, meta, etag, now)) {
        var out = r.headersOut;
        out['Access-Control-Allow-Origin'] = CORS_ORIGIN;
        out['Access-Control-Expose-Headers'] = CORS_EXPOSE;
        out['Cache-Control'] = v.statuslist_cache_control;
        out['Vary'] = VARY;
        out['ETag'] = etag;
        out['Last-Modified'] = meta.lastModified;
        r.status = 304;  // no body, so neither Content-Type nor Content-Length (RFC 9110 8.6)
        r.sendHeader();
        r.finish();
        return;
    }
    // The file's mtime is the token's iat: nginx's own Last-Modified is the service's.
    r.internalRedirect(file);
}

export default {serve: serve, chooseMediaType: chooseMediaType, acceptsGzip: acceptsGzip,
                etagMatches: etagMatches, httpDate: httpDate};
