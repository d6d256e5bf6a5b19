// GraphiQL, served from paycode's own assets: no CDN, so it works on a
// network without internet. It sends the token the console holds in this
// tab's sessionStorage (sign in at / first), or the one typed in the
// headers editor.
(function () {
  var token = sessionStorage.getItem("paycode.token");
  var headers = token ? JSON.stringify({ authorization: "Bearer " + token }, null, 2) : '{"authorization": "Bearer <token>"}';
  var fetcher = GraphiQL.createFetcher({ url: "/graphql" });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultHeaders: headers,
    shouldPersistHeaders: false,
    defaultQuery: "{\n  me { name role merchant }\n  orders(first: 10) {\n    totals { count amount }\n    nodes { outTradeNo status amount createdAt }\n  }\n}\n",
  }));
})();
