// The login form: where to go once logged in (the page that was asked for), and why the last try failed.
const params = new URLSearchParams(location.search);
const here = location.pathname === '/login' ? (params.get('next') || '/') : location.pathname + location.search;
document.getElementById('next').value = here;
if (params.get('failed')) document.getElementById('login-error').hidden = false;
