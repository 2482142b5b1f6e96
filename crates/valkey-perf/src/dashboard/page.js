(function(){
'use strict';
var D=JSON.parse(document.getElementById('data').textContent);
var C=D.commits,P=D.panels,NS='http://www.w3.org/2000/svg';
var mode='abs',drawn={};
function esc(s){return String(s).replace(/[&<>"']/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c];});}
function fmt(v){var a=Math.abs(v);if(a>=1e6)return (v/1e6).toFixed(2)+'M';if(a>=1e4)return (v/1e3).toFixed(0)+'K';if(a>=1e3)return (v/1e3).toFixed(1)+'K';if(a>=100)return v.toFixed(0);if(a>=1)return v.toFixed(2);return v.toFixed(3);}
function ticks(lo,hi){var raw=(hi-lo)/5,mag=Math.pow(10,Math.floor(Math.log10(raw))),step=10*mag;
  [1,2,5,10].some(function(m){if(m*mag>=raw){step=m*mag;return true;}return false;});
  var out=[];for(var t=Math.ceil(lo/step)*step;t<=hi+step*1e-9;t+=step)out.push(t);return out;}
function base(p){return p.levels.length?p.levels[0][2]:null;}
// One path through the defined points; gaps break it.
function path(n,get,X,Y){var d='',pen=false;for(var i=0;i<n;i++){var v=get(i);if(v==null){pen=false;continue;}
  d+=(pen?'L':'M')+X(i).toFixed(1)+' '+Y(v).toFixed(1);pen=true;}return d;}
// A closed band between lo(i) and hi(i) over each stretch of defined points.
function band(n,lo,hi,X,Y){var d='',i=0;while(i<n){while(i<n&&lo(i)==null)i++;var s=i;while(i<n&&lo(i)!=null)i++;
  if(i>s){var a=[],b=[];for(var j=s;j<i;j++){a.push(X(j).toFixed(1)+' '+Y(hi(j)).toFixed(1));b.push(X(j).toFixed(1)+' '+Y(lo(j)).toFixed(1));}
  if(i-s===1){var x=X(s);a=[(x-2).toFixed(1)+' '+Y(hi(s)).toFixed(1),(x+2).toFixed(1)+' '+Y(hi(s)).toFixed(1)];b=[(x-2).toFixed(1)+' '+Y(lo(s)).toFixed(1),(x+2).toFixed(1)+' '+Y(lo(s)).toFixed(1)];}
  d+='M'+a.join('L')+'L'+b.reverse().join('L')+'Z';}}return d;}
function levelAt(p,i){for(var k=0;k<p.levels.length;k++){var l=p.levels[k];if(i>=l[0]&&i<=l[1])return l[2];}return null;}
function frame(svg,lo,hi,title,unit,scale){
  var W=Math.max(300,svg.getBoundingClientRect().width||900),H=svg.classList.contains('rps')?230:150,L=64,R=14,T=22,B=svg.classList.contains('rps')?40:24;
  var n=C.length,X=function(i){return L+(W-L-R)*(i+0.5)/n;},Y=function(v){return T+(H-T-B)*(1-(scale(v)-lo)/(hi-lo));};
  var s='<text class="title" x="'+L+'" y="14">'+esc(title)+' <tspan class="unit">('+esc(unit)+')</tspan></text>';
  ticks(lo,hi).forEach(function(t){var y=T+(H-T-B)*(1-(t-lo)/(hi-lo));s+='<line class="grid" x1="'+L+'" x2="'+(W-R)+'" y1="'+y.toFixed(1)+'" y2="'+y.toFixed(1)+'"/><text x="'+(L-6)+'" y="'+(y+4).toFixed(1)+'" text-anchor="end">'+fmt(t)+'</text>';});
  svg.setAttribute('viewBox','0 0 '+W+' '+H);
  return {W:W,H:H,L:L,R:R,T:T,B:B,X:X,Y:Y,head:s};}
function xlabels(f){var n=C.length,every=Math.max(1,Math.ceil(n/Math.max(2,Math.floor((f.W-f.L)/56)))),s='';
  for(var i=n-1;i>=0;i-=every){var c=C[i],t='<text class="xlabel" x="'+f.X(i).toFixed(1)+'" y="'+(f.H-f.B+14)+'" text-anchor="middle"><title>'+esc(c[0]+' · '+c[1]+(c[2]?' · '+c[2]:''))+'</title>'+esc(c[0].slice(0,7))+'</text>';
    s=(c[3]?'<a href="'+esc(c[3])+'">'+t+'</a>':t)+s;}return s;}
function drawRps(svg,p){
  var b=base(p),pct=mode==='pct'&&b,sc=pct?function(v){return (v/b-1)*100;}:function(v){return v;};
  var n=C.length,lo=Infinity,hi=-Infinity,k=p.noise!=null?Math.exp(2*p.noise/100):1;
  for(var i=0;i<n;i++){if(p.rps[i]==null)continue;lo=Math.min(lo,sc(p.lo[i]));hi=Math.max(hi,sc(p.hi[i]));var l=levelAt(p,i);if(l!=null){lo=Math.min(lo,sc(l/k));hi=Math.max(hi,sc(l*k));}}
  if(!isFinite(lo)){lo=0;hi=1;}
  // At least ±10 % of the baseline around it: noise of a few percent stays small.
  if(b){var c=sc(b),half=pct?10:b*0.10;lo=Math.min(lo,c-half);hi=Math.max(hi,c+half);}
  var pad=(hi-lo)*0.06;lo-=pad;hi+=pad;if(!pct&&lo<0)lo=0;
  var f=frame(svg,lo,hi,'throughput',pct?'% of baseline '+fmt(b)+' req/s':'req/s',sc),s=f.head;
  var X=f.X,Y=f.Y;
  if(p.noise!=null)s+='<path class="noise" d="'+band(n,function(i){var l=levelAt(p,i);return l==null?null:l/k;},function(i){var l=levelAt(p,i);return l==null?null:l*k;},X,Y)+'"><title>noise: ±2 sd of the commit-to-commit spread (sd '+p.noise.toFixed(2)+' %)</title></path>';
  s+='<path class="runs" d="'+band(n,function(i){return p.lo[i];},function(i){return p.hi[i];},X,Y)+'"/>';
  s+='<path class="line" stroke="#1f6fb4" d="'+path(n,function(i){return p.rps[i];},X,Y)+'"/>';
  p.cps.forEach(function(cp){var x=X(cp[0]-0.5).toFixed(1),c=C[cp[0]];
    s+='<line class="changepoint" data-x="'+cp[0]+'" x1="'+x+'" x2="'+x+'" y1="'+f.T+'" y2="'+(f.H-f.B)+'"><title>'+esc('change point at '+c[0].slice(0,7)+' (after '+C[cp[0]-1][0].slice(0,7)+'): rps '+(cp[1]>0?'+':'')+cp[1].toFixed(1)+' % (95 % CI '+cp[2].toFixed(1)+' … '+cp[3].toFixed(1)+' %), p = '+cp[4])+'</title></line>';
    s+='<text class="cplabel" x="'+(+x+3)+'" y="'+(f.T+10)+'">'+(cp[1]>0?'+':'')+cp[1].toFixed(1)+' %</text>';});
  s+='<line class="cursor" x1="-9" x2="-9" y1="'+f.T+'" y2="'+(f.H-f.B)+'"/>'+xlabels(f);
  svg.innerHTML=s;svg._f=f;}
function drawLat(svg,p){
  var n=C.length,hi=0;for(var i=0;i<n;i++){if(p.p99[i]!=null)hi=Math.max(hi,p.p99[i]);if(p.p50[i]!=null)hi=Math.max(hi,p.p50[i]);}
  hi=hi>0?hi*1.08:1;var f=frame(svg,0,hi,'latency p50 / p99','ms',function(v){return v;}),s=f.head;
  s+='<path class="line" stroke="#2a9d4b" d="'+path(n,function(i){return p.p50[i];},f.X,f.Y)+'"/>';
  s+='<path class="line" stroke="#d0661c" d="'+path(n,function(i){return p.p99[i];},f.X,f.Y)+'"/>';
  s+='<text x="'+(f.W-f.R-90)+'" y="14"><tspan fill="#2a9d4b">━ p50</tspan>  <tspan fill="#d0661c">━ p99</tspan></text>';
  s+='<line class="cursor" x1="-9" x2="-9" y1="'+f.T+'" y2="'+(f.H-f.B)+'"/>';
  svg.innerHTML=s;svg._f=f;}
function draw(i){var el=document.getElementById('p'+i);if(!el||el.hidden)return;drawn[i]=true;
  drawRps(el.querySelector('svg.rps'),P[i]);drawLat(el.querySelector('svg.latency'),P[i]);el.setAttribute('data-drawn','1');}
var tip=document.getElementById('tip');
function hover(e){var svg=e.currentTarget,f=svg._f;if(!f)return;var r=svg.getBoundingClientRect(),x=(e.clientX-r.left)*f.W/r.width,n=C.length;
  var i=Math.max(0,Math.min(n-1,Math.round((x-f.L)/((f.W-f.L-f.R)/n)-0.5))),p=P[+svg.getAttribute('data-panel')],c=C[i],b=base(p);
  var t=c[0].slice(0,12)+'  '+c[1]+(c[2]?'  '+c[2]:'');
  if(p.rps[i]!=null)t+='\nrps '+fmt(p.rps[i])+' (runs '+fmt(p.lo[i])+' … '+fmt(p.hi[i])+')'+(b?', '+((p.rps[i]/b-1)*100).toFixed(1)+' % of baseline':'');
  if(p.p50[i]!=null)t+='\np50 '+fmt(p.p50[i])+' ms';if(p.p99[i]!=null)t+=', p99 '+fmt(p.p99[i])+' ms';
  var cur=svg.querySelector('.cursor');if(cur){cur.setAttribute('x1',f.X(i));cur.setAttribute('x2',f.X(i));}
  tip.textContent=t;tip.hidden=false;tip.style.left=(e.clientX+14)+'px';tip.style.top=(e.clientY+10)+'px';}
document.querySelectorAll('#trends svg').forEach(function(s){s.addEventListener('mousemove',hover);s.addEventListener('mouseleave',function(){tip.hidden=true;});});
// Only the charts in view and three screens below are drawn (a chart is ready before it is
// scrolled to), each when it first comes that near: scrolling, a link to a chart and the
// command filter bring the others.
function count(){document.body.setAttribute('data-charts-drawn',Object.keys(drawn).length);}
if('IntersectionObserver' in window){var io=new IntersectionObserver(function(es){es.forEach(function(e){if(!e.isIntersecting)return;var i=+e.target.getAttribute('data-panel');if(!drawn[i]){draw(i);count();}if(drawn[i])io.unobserve(e.target);});},{rootMargin:'300% 0px'});
  // Those near the first view at once, not at the observer's first report: a screenshot or
  // a first paint shows them drawn.
  var h=window.innerHeight||800;
  document.querySelectorAll('#trends .panel').forEach(function(el){var r=el.getBoundingClientRect(),i=+el.getAttribute('data-panel');
    if(r.top<4*h&&r.bottom>-3*h)draw(i);if(!drawn[i])io.observe(el);});count();}
else{P.forEach(function(_,i){draw(i);});count();}
function redrawAll(){Object.keys(drawn).forEach(function(i){draw(+i);});}
document.querySelectorAll('input[name=yaxis]').forEach(function(r){r.addEventListener('change',function(){mode=r.value;redrawAll();});});
var rt;window.addEventListener('resize',function(){clearTimeout(rt);rt=setTimeout(redrawAll,150);});
// A chart linked to is drawn with those around it at once, not at the observer's next report
// after the browser has scrolled there.
function focus(i){var el=document.getElementById('p'+i);if(!el)return;if(!drawn[i])draw(i);
  var top=el.getBoundingClientRect().top,h=window.innerHeight||800;
  document.querySelectorAll('#trends .panel').forEach(function(x){var r=x.getBoundingClientRect(),j=+x.getAttribute('data-panel');
    if(!drawn[j]&&r.top<top+4*h&&r.bottom>top-h)draw(j);});count();
  document.querySelectorAll('.panel.focus').forEach(function(x){x.classList.remove('focus');});el.classList.add('focus');}
document.querySelectorAll('a[data-goto]').forEach(function(a){a.addEventListener('click',function(){focus(+a.getAttribute('data-goto'));});});
// The command filter.
var boxes=document.querySelectorAll('#filter input[type=checkbox]');
function apply(){var on={};boxes.forEach(function(b){if(b.checked)on[b.value]=true;});
  document.querySelectorAll('[data-command]').forEach(function(el){el.hidden=!on[el.getAttribute('data-command')];});
  document.querySelectorAll('figure.chart').forEach(function(fig){fig.hidden=fig.querySelectorAll('.panel:not([hidden])').length===0;});
  var sel=[];boxes.forEach(function(b){if(b.checked)sel.push(b.value);});
  history.replaceState(null,'',sel.length===boxes.length?'#':'#commands='+sel.join(','));}
boxes.forEach(function(b){b.addEventListener('change',apply);});
function all(v){boxes.forEach(function(b){b.checked=v;});apply();}
var a=document.getElementById('all'),n=document.getElementById('none');
if(a)a.addEventListener('click',function(){all(true);});if(n)n.addEventListener('click',function(){all(false);});
var m=/commands=([^&]*)/.exec(location.hash);
if(m){var want=decodeURIComponent(m[1]).split(',');boxes.forEach(function(b){b.checked=want.indexOf(b.value)>=0;});apply();}
var g=/^#p(\d+)$/.exec(location.hash);if(g)focus(+g[1]);
})();
