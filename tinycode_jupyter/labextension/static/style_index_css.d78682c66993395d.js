"use strict";(self.rspackChunktinycode_jupyter=self.rspackChunktinycode_jupyter||[]).push([["style_index_css"],{"./node_modules/css-loader/dist/cjs.js!./style/index.css"(e,t,o){var r=o("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),n=o.n(r),i=o("./node_modules/css-loader/dist/runtime/api.js"),s=(o.n(i))()(n());s.push([e.id,`/* The sidebar chat (src/sidebar.ts, src/notebookChat.ts, src/transcript.ts). */

.jp-tinycode-sidebar {
  background: var(--jp-layout-color1);
}

/* On the sidebar's children: the sidebar's layout sets its own min-width from theirs. */
.jp-tinycode-sidebar > .lm-Widget {
  min-width: var(--jp-sidebar-min-width, 250px);
}

.jp-tinycode-placeholder {
  padding: 16px;
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size1);
}

.jp-tinycode-chat {
  display: flex;
  flex-direction: column;
  font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color1);
}

.jp-tinycode-heading {
  padding: 6px 10px;
  font-weight: 600;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.jp-tinycode-transcript {
  flex: 1 1 auto;
  overflow-y: auto;
  padding: 6px 10px;
}

.jp-tinycode-transcript > * {
  margin: 6px 0;
}

.jp-tinycode-prompt {
  padding: 6px 8px;
  border-radius: 4px;
  background: var(--jp-layout-color2);
  white-space: pre-wrap;
}

.jp-tinycode-text.jp-RenderedMarkdown {
  padding: 0;
}

.jp-tinycode-answer {
  border-left: 3px solid var(--jp-brand-color1);
  padding-left: 8px !important;
}

.jp-tinycode-tool {
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 4px;
  overflow: hidden;
}

.jp-tinycode-tool-name {
  padding: 2px 8px;
  font-weight: 600;
  background: var(--jp-layout-color2);
}

.jp-tinycode-tool pre {
  margin: 0;
  padding: 4px 8px;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  white-space: pre-wrap;
  word-break: break-word;
  max-height: 20em;
  overflow: auto;
}

.jp-tinycode-code {
  background: var(--jp-cell-editor-background);
}

.jp-tinycode-output {
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-tinycode-output.jp-mod-error {
  background: var(--jp-rendermime-error-background);
}

.jp-tinycode-image {
  display: block;
  max-width: 100%;
}

.jp-tinycode-usage,
.jp-tinycode-note {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.jp-tinycode-error {
  color: var(--jp-error-color1);
  white-space: pre-wrap;
}

.jp-tinycode-form {
  padding: 6px 10px 10px;
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
}

.jp-tinycode-input {
  box-sizing: border-box;
  width: 100%;
  resize: vertical;
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color1);
  background: var(--jp-input-background);
  border: var(--jp-border-width) solid var(--jp-border-color1);
  padding: 4px 6px;
}

.jp-tinycode-buttons {
  display: flex;
  align-items: center;
  gap: 6px;
  margin-top: 6px;
}

.jp-tinycode-buttons button:disabled {
  opacity: 0.45;
  cursor: default;
}

.jp-tinycode-status {
  flex: 1 1 auto;
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}
`,""]),o.d(t,{},{A:s})},"./node_modules/css-loader/dist/runtime/api.js"(e){e.exports=function(e){var t=[];return t.toString=function(){return this.map(function(t){var o="",r=void 0!==t[5];return t[4]&&(o+="@supports (".concat(t[4],") {")),t[2]&&(o+="@media ".concat(t[2]," {")),r&&(o+="@layer".concat(t[5].length>0?" ".concat(t[5]):""," {")),o+=e(t),r&&(o+="}"),t[2]&&(o+="}"),t[4]&&(o+="}"),o}).join("")},t.i=function(e,o,r,n,i){"string"==typeof e&&(e=[[null,e,void 0]]);var s={};if(r)for(var a=0;a<this.length;a++){var d=this[a][0];null!=d&&(s[d]=!0)}for(var l=0;l<e.length;l++){var c=[].concat(e[l]);r&&s[c[0]]||(void 0!==i&&(void 0===c[5]||(c[1]="@layer".concat(c[5].length>0?" ".concat(c[5]):""," {").concat(c[1],"}")),c[5]=i),o&&(c[2]&&(c[1]="@media ".concat(c[2]," {").concat(c[1],"}")),c[2]=o),n&&(c[4]?(c[1]="@supports (".concat(c[4],") {").concat(c[1],"}"),c[4]=n):c[4]="".concat(n)),t.push(c))}},t}},"./node_modules/css-loader/dist/runtime/noSourceMaps.js"(e){e.exports=function(e){return e[1]}},"./style/index.css"(e,t,o){o.r(t);var r=o("./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"),n=o.n(r),i=o("./node_modules/style-loader/dist/runtime/styleDomAPI.js"),s=o.n(i),a=o("./node_modules/style-loader/dist/runtime/insertBySelector.js"),d=o.n(a),l=o("./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"),c=o.n(l),p=o("./node_modules/style-loader/dist/runtime/insertStyleElement.js"),u=o.n(p),f=o("./node_modules/style-loader/dist/runtime/styleTagTransform.js"),m=o.n(f),y=o("./node_modules/css-loader/dist/cjs.js!./style/index.css"),j={};j.styleTagTransform=m(),j.setAttributes=c(),j.insert=d().bind(null,"head"),j.domAPI=s(),j.insertStyleElement=u(),n()(y.A,j);let v=y.A&&y.A.locals?y.A.locals:void 0;o.d(t,{},{default:v})},"./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"(e){var t=[];function o(e){for(var o=-1,r=0;r<t.length;r++)if(t[r].identifier===e){o=r;break}return o}function r(e,r){for(var n={},i=[],s=0;s<e.length;s++){var a=e[s],d=r.base?a[0]+r.base:a[0],l=n[d]||0,c="".concat(d," ").concat(l);n[d]=l+1;var p=o(c),u={css:a[1],media:a[2],sourceMap:a[3],supports:a[4],layer:a[5]};if(-1!==p)t[p].references++,t[p].updater(u);else{var f=function(e,t){var o=t.domAPI(t);return o.update(e),function(t){t?(t.css!==e.css||t.media!==e.media||t.sourceMap!==e.sourceMap||t.supports!==e.supports||t.layer!==e.layer)&&o.update(e=t):o.remove()}}(u,r);r.byIndex=s,t.splice(s,0,{identifier:c,updater:f,references:1})}i.push(c)}return i}e.exports=function(e,n){var i=r(e=e||[],n=n||{});return function(e){e=e||[];for(var s=0;s<i.length;s++){var a=o(i[s]);t[a].references--}for(var d=r(e,n),l=0;l<i.length;l++){var c=o(i[l]);0===t[c].references&&(t[c].updater(),t.splice(c,1))}i=d}}},"./node_modules/style-loader/dist/runtime/insertBySelector.js"(e){var t={};e.exports=function(e,o){var r=function(e){if(void 0===t[e]){var o=document.querySelector(e);if(window.HTMLIFrameElement&&o instanceof window.HTMLIFrameElement)try{o=o.contentDocument.head}catch(e){o=null}t[e]=o}return t[e]}(e);if(!r)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");r.appendChild(o)}},"./node_modules/style-loader/dist/runtime/insertStyleElement.js"(e){e.exports=function(e){var t=document.createElement("style");return e.setAttributes(t,e.attributes),e.insert(t,e.options),t}},"./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"(e,t,o){e.exports=function(e){var t=o.nc;t&&e.setAttribute("nonce",t)}},"./node_modules/style-loader/dist/runtime/styleDomAPI.js"(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var t=e.insertStyleElement(e);return{update:function(o){var r,n,i;r="",o.supports&&(r+="@supports (".concat(o.supports,") {")),o.media&&(r+="@media ".concat(o.media," {")),(n=void 0!==o.layer)&&(r+="@layer".concat(o.layer.length>0?" ".concat(o.layer):""," {")),r+=o.css,n&&(r+="}"),o.media&&(r+="}"),o.supports&&(r+="}"),(i=o.sourceMap)&&"u">typeof btoa&&(r+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(i))))," */")),e.styleTagTransform(r,t,e.options)},remove:function(){var e;null===(e=t).parentNode||e.parentNode.removeChild(e)}}}},"./node_modules/style-loader/dist/runtime/styleTagTransform.js"(e){e.exports=function(e,t){if(t.styleSheet)t.styleSheet.cssText=e;else{for(;t.firstChild;)t.removeChild(t.firstChild);t.appendChild(document.createTextNode(e))}}}}]);